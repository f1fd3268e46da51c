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

from ._capi import lib as _lib
from ._capi import library_path
from .errors import (AlreadyExistsError, ArgumentTypeError, BusyError, ClosedError,
                     CorruptedError, Error, IncompatibleLayoutError, InvalidArgumentError,
                     IoError, KeyTooLongError, LimitExceededError, NoMemoryError, NotANumberError,
                     NotFoundError, OutcomeUnknownError, BrokenError, OverflowError,
                     PermissionDeniedError, ReadOnlyError, StoreFullError, TooSmallError, UnavailableError,
                     ValueTooLargeError, error_for_code)
from .store import (CasOutcome, Claim, CoordinationInfo, GrantInfo, DeletePrefixResult, Entry, FsyncPolicy, GetOrSetResult, Info, KeyScanPage,
                    OpenMode, ProcessInfo, RecoveryReport, ScanPage, ShardInfo, Stats, Store,
                    destroy, open, segment_exists)

__version__ = _lib.shmkv_version().decode()
version = __version__

# shmkv.OverflowError and shmkv.TooSmallError are reachable by name, not by "import *" (the first
# would shadow the built-in OverflowError it subclasses; the second is never raised to users).
__all__ = [
    "Store", "open", "destroy", "segment_exists", "OpenMode", "FsyncPolicy", "RecoveryReport",
    "Entry", "GetOrSetResult", "CasOutcome", "Claim", "CoordinationInfo", "GrantInfo",
    "ScanPage", "KeyScanPage", "DeletePrefixResult", "Info", "ShardInfo", "ProcessInfo", "Stats",
    "library_path", "version", "Error", "ArgumentTypeError", "InvalidArgumentError", "KeyTooLongError",
    "ValueTooLargeError", "StoreFullError", "NotANumberError", "ClosedError", "ReadOnlyError",
    "AlreadyExistsError", "NotFoundError", "IncompatibleLayoutError", "PermissionDeniedError",
    "CorruptedError", "BusyError", "LimitExceededError", "IoError", "UnavailableError",
    "OutcomeUnknownError", "BrokenError", "NoMemoryError", "error_for_code",
]
_ = (OverflowError, TooSmallError)  # exported by name
