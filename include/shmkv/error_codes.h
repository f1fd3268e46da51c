/* shmkv/error_codes.h: the one list of shmkv's error codes, in C and C++.
 *
 * X(name, NAME, number, description): shmkv::errc::name == number (error.hpp),
 * SHMKV_E##NAME == -number (shmkv.h), errc_name() and shmkv_errname() return "name",
 * shmkv_strerror() returns the description. The CLI and the Lua binding print names from
 * errc_name/shmkv_errname; the Python classes and the docs' list are checked against this
 * table by tests (bindings/python/tests/test_errors.py, tests/error_table_test.sh). Numbers are
 * ABI: never reuse one. */
#ifndef SHMKV_ERROR_CODES_H
#define SHMKV_ERROR_CODES_H

#define SHMKV_ERROR_CODES(X)                                                                \
  X(invalid_argument, INVALID_ARGUMENT, 1, "invalid argument")                              \
  X(key_too_long, KEY_TOO_LONG, 2, "key longer than the store's max_key_bytes")             \
  X(value_too_large, VALUE_TOO_LARGE, 3, "value longer than the store's max_value_bytes")   \
  X(store_full, STORE_FULL, 4, "no room left in the store")                                 \
  X(not_a_number, NOT_A_NUMBER, 5, "value is not a decimal int64")                          \
  X(overflow, OVERFLOW, 6, "int64 overflow")                                                \
  X(closed, CLOSED, 7, "store handle is closed")                                            \
  X(read_only, READ_ONLY, 8, "store handle is read-only")                                   \
  X(already_exists, ALREADY_EXISTS, 9, "segment already exists")                            \
  X(not_found, NOT_FOUND, 10, "segment not found")                                          \
  X(incompatible_layout, INCOMPATIBLE_LAYOUT, 11, "segment has an incompatible layout")     \
  X(permission_denied, PERMISSION_DENIED, 12, "permission denied")                          \
  X(corrupted, CORRUPTED, 13, "segment or file is corrupted")                               \
  X(busy, BUSY, 14, "busy")                                                                 \
  X(limit_exceeded, LIMIT_EXCEEDED, 15, "limit exceeded")                                   \
  X(io_error, IO_ERROR, 16, "I/O or internal error")                                        \
  X(unavailable, UNAVAILABLE, 17, "the store's server cannot be reached")                   \
  X(outcome_unknown, OUTCOME_UNKNOWN, 18, "the connection was lost after a write was sent") \
  X(broken, BROKEN, 19, "a party of the barrier died")

#endif
