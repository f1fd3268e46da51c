// crashpoint.hpp: numbered crash points for the crash-recovery tests.
//
// In a build with SHMKV_CRASHPOINTS, SHMKV_CRASH_POINT() counts every crash point this process
// passes; when the count reaches the armed number, the process SIGKILLs itself on the spot.
// The number comes from the environment variable SHMKV_CRASH_AT (read once per process, after
// fork too) or from ArmCrashPoint(). Without the build option the macro compiles to nothing
// and the functions do not exist.
#pragma once

#ifdef SHMKV_CRASHPOINTS
namespace shmkv::detail {
void CrashPoint(const char* where);
// Resets this process's count and kills it at the n-th crash point from now (0 = never).
void ArmCrashPoint(long n);
}  // namespace shmkv::detail
#define SHMKV_CRASH_POINT(where) ::shmkv::detail::CrashPoint(where)
#else
#define SHMKV_CRASH_POINT(where) ((void)0)
#endif
