// shmkv/shmkv.hpp: umbrella header. A daemonless shared-memory key-value store shared by the
// processes of one host. See store.hpp for the operations and error.hpp for the error codes.
#pragma once

#include "shmkv/error.hpp"
#include "shmkv/options.hpp"
#include "shmkv/store.hpp"
#include "shmkv/version.hpp"
