"""shmkv's exceptions: one shmkv.Error subclass per shmkv::errc code.

Every exception carries .code (the C API's negative SHMKV_E* int), .name (the code's name as
spelled in shmkv::errc, e.g. "key_too_long") and .message (what went wrong, naming the offending
value). Argument errors also subclass the built-in exception Python code expects: ValueError for
bad values, TypeError (ArgumentTypeError) for wrong types, OverflowError for int64 overflow.
"""

import builtins

__all__ = [
    "Error", "ArgumentTypeError",
    "InvalidArgumentError", "KeyTooLongError", "ValueTooLargeError", "StoreFullError",
    "NotANumberError", "ClosedError", "ReadOnlyError", "AlreadyExistsError", "NotFoundError",
    "IncompatibleLayoutError", "PermissionDeniedError", "CorruptedError", "BusyError",
    "LimitExceededError", "IoError", "UnavailableError", "OutcomeUnknownError", "BrokenError",
    "NoMemoryError", "error_for_code",
]
# shmkv.OverflowError (code overflow) is exported by name only, not by "import *", so that it
# does not shadow the built-in OverflowError (which it subclasses) in the importing module.


class Error(Exception):
    """Base class of every shmkv error."""

    code = 0
    name = "unknown"

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None and code != type(self).code:
            self.code = code

    def __str__(self):
        return self.message


class InvalidArgumentError(Error, ValueError):
    """Malformed name, empty key, bad option or argument value."""
    code, name = -1, "invalid_argument"


class KeyTooLongError(Error, ValueError):
    """Key longer than the store's max_key_bytes."""
    code, name = -2, "key_too_long"


class ValueTooLargeError(Error, ValueError):
    """Value longer than the store's max_value_bytes."""
    code, name = -3, "value_too_large"


class StoreFullError(Error):
    """No room left in the segment; nothing changed."""
    code, name = -4, "store_full"


class NotANumberError(Error, ValueError):
    """incr on a value that is not a decimal int64; nothing changed."""
    code, name = -5, "not_a_number"


class OverflowError(Error, builtins.OverflowError):
    """incr would leave the int64 range; nothing changed."""
    code, name = -6, "overflow"


class ClosedError(Error):
    """The store is closed, or was inherited across fork()."""
    code, name = -7, "closed"


class ReadOnlyError(Error):
    """A mutation on a store opened read-only."""
    code, name = -8, "read_only"


class AlreadyExistsError(Error):
    """open_mode create_only and the segment exists."""
    code, name = -9, "already_exists"


class NotFoundError(Error):
    """open_mode attach_only / destroy and the segment does not exist."""
    code, name = -10, "not_found"


class IncompatibleLayoutError(Error):
    """The segment was made by another layout version or build."""
    code, name = -11, "incompatible_layout"


class PermissionDeniedError(Error, PermissionError):
    """The OS refused access to the segment."""
    code, name = -12, "permission_denied"


class CorruptedError(Error):
    """A shard failed verification."""
    code, name = -13, "corrupted"


class BusyError(Error):
    """A lock could not be taken in bounded time."""
    code, name = -14, "busy"


class LimitExceededError(Error):
    """A caller-set budget was exceeded."""
    code, name = -15, "limit_exceeded"


class IoError(Error):
    """An OS call failed, or an unexpected internal error."""
    code, name = -16, "io_error"


class UnavailableError(Error, ConnectionError):
    """The store's server (url) cannot be reached; nothing was sent."""
    code, name = -17, "unavailable"


class OutcomeUnknownError(Error, ConnectionError):
    """The connection was lost after a write was sent: it may or may not have happened."""
    code, name = -18, "outcome_unknown"


class BrokenError(Error):
    """A party of the barrier died while the others waited: the barrier is broken."""
    code, name = -19, "broken"


class TooSmallError(Error):
    """A buffer was too small (handled inside the binding; never raised to users)."""
    code, name = -100, "too_small"


class NoMemoryError(Error, MemoryError):
    """Memory allocation failed in the library."""
    code, name = -101, "no_memory"


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type (code invalid_argument; also a TypeError)."""


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgumentError, KeyTooLongError, ValueTooLargeError, StoreFullError, NotANumberError,
    OverflowError, ClosedError, ReadOnlyError, AlreadyExistsError, NotFoundError,
    IncompatibleLayoutError, PermissionDeniedError, CorruptedError, BusyError, LimitExceededError,
    IoError, UnavailableError, OutcomeUnknownError, BrokenError, TooSmallError, NoMemoryError,
)}


def error_for_code(code, message):
    """The exception for a C API code (an unknown code gives a plain shmkv.Error)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        err = Error(message, code)
        err.name = "unknown"
        return err
    return cls(message)
