"""shmkv: a daemonless shared-memory key-value store shared by the processes of one host.

A thin wrapper over libshmkv's C API through ctypes (no compiled extension). The library is
loaded from $SHMKV_LIBRARY, else from the system (an installed libshmkv.so).

    import shmkv
    with shmkv.open("loadtest") as kv:
        kv.set("greeting", "hello")
        kv.incr("requests")
        value, loaded = kv.get_or_set("order:42", "user-7")
        token = kv.pop_random("token:")
"""

from . import errors
from ._capi import library_path
from .errors import *  # noqa: F401,F403
from .errors import OverflowError  # noqa: A004 (shmkv.OverflowError subclasses the built-in)
from .errors import TooSmallError, error_for_code  # noqa: F401
from .store import (DeletePrefixResult, Entry, GetOrSetResult, Info, OpenMode, ProcessInfo,
                    ScanPage, ShardInfo, Stats, Store, destroy, open, segment_exists)
from ._capi import lib as _lib

__version__ = _lib.shmkv_version().decode()
version = __version__

__all__ = ["Store", "open", "destroy", "segment_exists", "OpenMode", "Entry", "GetOrSetResult",
           "ScanPage", "DeletePrefixResult", "Info", "ShardInfo", "ProcessInfo", "Stats",
           "library_path", "version"] + errors.__all__
