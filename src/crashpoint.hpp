// crashpoint.hpp: numbered crash points for the crash-recovery tests.
//
// In a build with SHMKV_CRASHPOINTS, SHMKV_CRASH_POINT() counts every crash point this process
// passes; when the count reaches the number in the environment variable SHMKV_CRASH_AT, the
// process SIGKILLs itself on the spot. SHMKV_CRASH_COUNT_FILE, if set, receives the count at
// every pass so a test can learn how many points an operation has. Without the build option the
// macro compiles to nothing.
#pragma once

#ifdef SHMKV_CRASHPOINTS
namespace shmkv::detail {
void CrashPoint(const char* where);
}
#define SHMKV_CRASH_POINT(where) ::shmkv::detail::CrashPoint(where)
#else
#define SHMKV_CRASH_POINT(where) ((void)0)
#endif
