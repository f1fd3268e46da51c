// shmkv/version.hpp: library version.
#pragma once

#define SHMKV_VERSION_MAJOR 0
#define SHMKV_VERSION_MINOR 1
#define SHMKV_VERSION_PATCH 0

namespace shmkv {
inline constexpr const char* kVersionString = "0.1.0";
}
