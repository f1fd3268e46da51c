/* shmkv/export.h: SHMKV_API marks what libshmkv exports. The library is compiled with hidden
 * visibility, so every symbol without it (everything in shmkv::detail) stays internal to the
 * library: libshmkv.so exports the public API only. Usable from C and C++. */
#ifndef SHMKV_EXPORT_H
#define SHMKV_EXPORT_H

#if defined(__GNUC__)
#define SHMKV_API __attribute__((visibility("default")))
#else
#define SHMKV_API
#endif

#endif
