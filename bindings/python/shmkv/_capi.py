"""ctypes declarations of the shmkv C API (include/shmkv/shmkv.h). Internal.

The library is found, in order, at $SHMKV_LIBRARY (a path to libshmkv.so), through
ctypes.util.find_library("shmkv") (an installed libshmkv.so known to ldconfig), or as
libshmkv.so.0 / libshmkv.so on the dynamic loader's search path.
"""

import ctypes
import ctypes.util
import os

from ctypes import (POINTER, Structure, c_char, c_char_p, c_int, c_int32, c_int64, c_size_t,
                    c_uint32, c_uint64, c_void_p)

# Codes of shmkv.h.
OK = 0
ETOOSMALL = -100
ENOMEM = -101

CREATE_OR_ATTACH, CREATE_ONLY, ATTACH_ONLY, READ_ONLY = 0, 1, 2, 3
FSYNC_ALWAYS, FSYNC_INTERVAL, FSYNC_NEVER = 0, 1, 2


class Options(Structure):
    _fields_ = [
        ("open_mode", c_int32),
        ("shards", c_uint32),
        ("size_bytes", c_uint64),
        ("max_key_bytes", c_uint32),
        ("max_value_bytes", c_uint32),
        ("max_keys", c_uint64),
        ("mode", c_uint32),
        ("home_block_bytes", c_uint32),
        ("trusted_group", c_int64),
        ("persistence_directory", c_char_p),
        ("fsync_policy", c_int32),
        ("keep_snapshots", c_uint32),
        ("snapshot_interval_ms", c_int64),
        ("fsync_interval_ms", c_int64),
        ("url", c_char_p),
        ("connect_timeout_ms", c_int64),
        ("command_timeout_ms", c_int64),
    ]


class RecoveryReport(Structure):
    _fields_ = [("performed", c_int32), ("reserved", c_uint32)] + [(name, c_uint64) for name in (
        "snapshot_seq", "snapshot_entries", "journal_files", "records_applied", "records_skipped",
        "truncated_bytes", "skipped_bytes", "entries", "next_seq", "duration_us")]


class Info(Structure):
    _fields_ = [
        ("name", c_char * 208),
        ("layout_version", c_uint32),
        ("shards", c_uint32),
        ("layout_fingerprint", c_uint64),
        ("created_unix_ms", c_uint64),
        ("size_bytes", c_uint64),
        ("max_key_bytes", c_uint32),
        ("max_value_bytes", c_uint32),
        ("max_keys", c_uint64),
        ("arena_bytes", c_uint64),
        ("arena_used_bytes", c_uint64),
        ("live_keys", c_uint64),
        ("processes", c_uint64),
        ("recoveries", c_uint64),
        ("home_block_bytes", c_uint32),
        ("pad", c_uint32),
        ("home_records", c_uint64),
        ("engine", c_char * 16),
        ("coordination_capacity", c_uint32),
        ("coordination_used", c_uint32),
        ("coordination_last_token", c_uint64),
        ("coordination_waiters", c_uint32),
        ("pad2", c_uint32),
        ("coordination_recoveries", c_uint64),
    ]


class GrantInfo(Structure):
    _fields_ = [
        ("kind", c_char * 16),
        ("name_head", c_char * 8),
        ("name_head_len", c_uint32),
        ("name_bytes", c_uint32),
        ("token", c_uint64),
        ("holder_pid", c_int32),
        ("holder_alive", c_int32),
        ("lease_left_ms", c_int64),
    ]


class ShardInfo(Structure):
    _fields_ = [
        ("live_keys", c_uint64),
        ("capacity", c_uint64),
        ("arena_bytes", c_uint64),
        ("used_bytes", c_uint64),
        ("recoveries", c_uint64),
        ("max_probe", c_uint32),
        ("reserved", c_uint32),
    ]


class ProcessInfo(Structure):
    _fields_ = [("pid", c_int32), ("alive", c_int32), ("start_time", c_uint64)]


class Stats(Structure):
    _fields_ = [(name, c_uint64) for name in (
        "gets", "hits", "misses", "sets", "deletes", "cas_success", "cas_failure", "lock_waits",
        "recoveries")]


class Range(Structure):
    """shmkv_range: prefix, from, to as (pointer, length); assigned bytes stay referenced."""
    _fields_ = [("prefix", c_char_p), ("prefix_len", c_size_t), ("from_", c_char_p),
                ("from_len", c_size_t), ("to", c_char_p), ("to_len", c_size_t)]


ENTRY_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t)
KEY_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)

_store = c_void_p  # shmkv_store*
_bytes = c_char_p  # const void* key / value (bytes objects; None = NULL)
_sz = c_size_t
_psz = POINTER(c_size_t)
_pvoid = POINTER(c_void_p)

_PROTOTYPES = {
    "shmkv_errname": (c_char_p, [c_int]),
    "shmkv_strerror": (c_char_p, [c_int]),
    "shmkv_last_error": (c_char_p, []),
    "shmkv_last_error_code": (c_int, []),
    "shmkv_version": (c_char_p, []),
    "shmkv_free": (None, [c_void_p]),
    "shmkv_options_init": (None, [POINTER(Options)]),
    "shmkv_open": (c_int, [c_char_p, POINTER(Options), _sz, POINTER(c_void_p)]),
    "shmkv_close": (None, [_store]),
    "shmkv_open_url": (c_int, [c_char_p, c_char_p, POINTER(Options), _sz, POINTER(c_void_p)]),
    "shmkv_destroy": (c_int, [c_char_p]),
    "shmkv_segment_exists": (c_int, [c_char_p]),
    "shmkv_destroy_url": (c_int, [c_char_p, c_char_p]),
    "shmkv_segment_exists_url": (c_int, [c_char_p, c_char_p]),
    "shmkv_get": (c_int, [_store, _bytes, _sz, c_void_p, _sz, _psz]),
    "shmkv_get_alloc": (c_int, [_store, _bytes, _sz, _pvoid, _psz]),
    "shmkv_set": (c_int, [_store, _bytes, _sz, _bytes, _sz, c_int64]),
    "shmkv_set_if_absent": (c_int, [_store, _bytes, _sz, _bytes, _sz, c_int64]),
    "shmkv_exists": (c_int, [_store, _bytes, _sz]),
    "shmkv_delete": (c_int, [_store, _bytes, _sz]),
    "shmkv_incr": (c_int, [_store, _bytes, _sz, c_int64, POINTER(c_int64)]),
    "shmkv_get_or_set_ttl": (c_int, [_store, _bytes, _sz, _bytes, _sz, c_int64, c_void_p, _sz,
                                     _psz]),
    "shmkv_swap_ttl": (c_int, [_store, _bytes, _sz, _bytes, _sz, c_int64, _pvoid, _psz]),
    "shmkv_cas_ttl": (c_int, [_store, _bytes, _sz, _bytes, _sz, _bytes, _sz, c_int64]),
    "shmkv_cas_detailed": (c_int, [_store, _bytes, _sz, _bytes, _sz, _bytes, _sz, c_int64,
                                   c_void_p, _sz, _psz, POINTER(c_int)]),
    "shmkv_cad": (c_int, [_store, _bytes, _sz, _bytes, _sz]),
    "shmkv_expire": (c_int, [_store, _bytes, _sz, c_int64]),
    "shmkv_ttl": (c_int, [_store, _bytes, _sz, POINTER(c_int64)]),
    "shmkv_list_range": (c_int, [_store, POINTER(Range), _sz, ENTRY_FN, c_void_p, _psz]),
    "shmkv_list_keys": (c_int, [_store, POINTER(Range), _sz, KEY_FN, c_void_p, _psz]),
    "shmkv_scan_range": (c_int, [_store, POINTER(Range), _bytes, _sz, _sz, ENTRY_FN, c_void_p,
                                 c_void_p, _sz, _psz, POINTER(c_int)]),
    "shmkv_scan_keys": (c_int, [_store, POINTER(Range), _bytes, _sz, _sz, KEY_FN, c_void_p,
                                c_void_p, _sz, _psz, POINTER(c_int)]),
    "shmkv_count_range": (c_int, [_store, POINTER(Range), POINTER(c_uint64)]),
    "shmkv_delete_range": (c_int, [_store, POINTER(Range), _sz, POINTER(c_uint64),
                                   POINTER(c_int)]),
    "shmkv_delete_prefix": (c_int, [_store, _bytes, _sz, _sz, POINTER(c_uint64),
                                    POINTER(c_int)]),
    "shmkv_clear": (c_int, [_store]),
    "shmkv_backup": (c_int, [_store, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)]),
    "shmkv_restore": (c_int, [_store, ctypes.c_char_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)]),
    "shmkv_random_key": (c_int, [_store, _bytes, _sz, c_void_p, _sz, _psz]),
    "shmkv_pop_random": (c_int, [_store, _bytes, _sz, _pvoid, _psz, _pvoid, _psz]),
    "shmkv_pop_random_many": (c_int, [_store, _bytes, _sz, _sz, _pvoid, _psz]),
    "shmkv_claim": (c_int, [_store, _bytes, _sz, c_int64, _pvoid, _psz, POINTER(c_uint64)]),
    "shmkv_claim_random": (c_int, [_store, _bytes, _sz, c_int64, _pvoid, _psz, _pvoid, _psz,
                                   POINTER(c_uint64)]),
    "shmkv_renew": (c_int, [_store, _bytes, _sz, c_uint64, c_int64]),
    "shmkv_release": (c_int, [_store, _bytes, _sz, c_uint64]),
    "shmkv_complete": (c_int, [_store, _bytes, _sz, c_uint64]),
    "shmkv_lock": (c_int, [_store, _bytes, _sz, c_int64, c_int64, POINTER(c_uint64)]),
    "shmkv_unlock": (c_int, [_store, _bytes, _sz, c_uint64]),
    "shmkv_acquire": (c_int, [_store, _bytes, _sz, c_uint32, c_int64, POINTER(c_uint64)]),
    "shmkv_release_permit": (c_int, [_store, _bytes, _sz, c_uint64]),
    "shmkv_wait_for": (c_int, [_store, _bytes, _sz, c_int64]),
    "shmkv_pop_random_wait": (c_int, [_store, _bytes, _sz, c_int64, _pvoid, _psz, _pvoid, _psz]),
    "shmkv_barrier": (c_int, [_store, _bytes, _sz, c_uint32, c_int64, POINTER(c_uint32)]),
    "shmkv_info_get": (c_int, [_store, POINTER(Info), _sz]),
    "shmkv_info_shards": (c_int, [_store, POINTER(ShardInfo), _sz, _psz]),
    "shmkv_info_processes": (c_int, [_store, POINTER(ProcessInfo), _sz, _psz]),
    "shmkv_info_grants": (c_int, [_store, POINTER(GrantInfo), _sz, _psz]),
    "shmkv_stats_get": (c_int, [_store, POINTER(Stats), _sz]),
    "shmkv_size": (c_int, [_store, POINTER(c_uint64)]),
    "shmkv_get_many": (c_int, [_store, POINTER(c_char_p), _psz, _sz, _pvoid, _psz, _psz]),
    "shmkv_set_many": (c_int, [_store, POINTER(c_char_p), _psz, POINTER(c_char_p), _psz, _sz,
                               c_int64]),
    "shmkv_delete_many": (c_int, [_store, POINTER(c_char_p), _psz, _sz, POINTER(c_uint64)]),
    "shmkv_random_keys": (c_int, [_store, _bytes, _sz, _sz, c_int, _pvoid, _psz]),
    "shmkv_check_invariants": (c_int, [_store, _pvoid, _psz]),
    "shmkv_sync": (c_int, [_store]),
    "shmkv_snapshot": (c_int, [_store, POINTER(c_uint64), POINTER(c_uint64)]),
    "shmkv_recovery_report_get": (c_int, [_store, POINTER(RecoveryReport), _sz, _pvoid, _psz]),
    "shmkv_export_jsonl": (c_int, [_store, c_char_p, POINTER(c_uint64), POINTER(c_uint64)]),
    "shmkv_import_jsonl": (c_int, [_store, c_char_p, c_uint64, c_uint64, POINTER(c_uint64),
                                   POINTER(c_uint64), POINTER(c_uint64)]),
}


def _load():
    explicit = os.environ.get("SHMKV_LIBRARY")
    if explicit:
        try:
            return ctypes.CDLL(explicit), explicit
        except OSError as e:
            raise ImportError(f"shmkv: cannot load SHMKV_LIBRARY={explicit!r}: {e}") from e
    tried = []
    for candidate in (ctypes.util.find_library("shmkv"), "libshmkv.so.0", "libshmkv.so"):
        if not candidate:
            continue
        try:
            return ctypes.CDLL(candidate), candidate
        except OSError as e:
            tried.append(f"{candidate}: {e}")
    raise ImportError("shmkv: libshmkv.so not found (build shmkv and set SHMKV_LIBRARY to the "
                      "path of libshmkv.so, or install it); tried " + "; ".join(tried or ["-"]))


lib, library_path = _load()
for _name, (_restype, _argtypes) in _PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes
