"""shmkv's exceptions: one shmkv.Error subclass per shmkv::errc code.

Every exception carries .code (the C API's negative SHMKV_E* int), .name (the code's name as
spelled in shmkv::errc, e.g. "key_too_long") and .message (what went wrong, naming the offending
value). Argument errors also subclass the built-in exception Python code expects: ValueError for
bad values, TypeError (ArgumentTypeError) for wrong types, OverflowError for int64 overflow.
"""

import builtins

__all__ = [
    "Error", "InvalidArgumentError", "ArgumentTypeError", "KeyTooLongError",
    "ValueTooLargeError", "StoreFullError", "NotANumberError", "ClosedError", "ReadOnlyError",
    "AlreadyExistsError", "NotFoundError", "IncompatibleLayoutError", "PermissionDeniedError",
    "CorruptedError", "BusyError", "LimitExceededError", "IoError", "NoMemoryError",
    "error_for_code",
]


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


def _define(class_name, code, name, *bases, doc=""):
    cls = type(class_name, (Error, *bases), {"code": code, "name": name, "__doc__": doc})
    globals()[class_name] = cls
    return cls


_CODES = [
    # class name, code, errc name, extra built-in bases
    ("InvalidArgumentError", -1, "invalid_argument", (ValueError,)),
    ("KeyTooLongError", -2, "key_too_long", (ValueError,)),
    ("ValueTooLargeError", -3, "value_too_large", (ValueError,)),
    ("StoreFullError", -4, "store_full", ()),
    ("NotANumberError", -5, "not_a_number", (ValueError,)),
    ("OverflowError", -6, "overflow", (builtins.OverflowError,)),
    ("ClosedError", -7, "closed", ()),
    ("ReadOnlyError", -8, "read_only", ()),
    ("AlreadyExistsError", -9, "already_exists", ()),
    ("NotFoundError", -10, "not_found", ()),
    ("IncompatibleLayoutError", -11, "incompatible_layout", ()),
    ("PermissionDeniedError", -12, "permission_denied", (PermissionError,)),
    ("CorruptedError", -13, "corrupted", ()),
    ("BusyError", -14, "busy", ()),
    ("LimitExceededError", -15, "limit_exceeded", ()),
    ("IoError", -16, "io_error", ()),
    ("TooSmallError", -100, "too_small", ()),  # internal: the binding retries with a bigger buffer
    ("NoMemoryError", -101, "no_memory", (MemoryError,)),
]

_BY_CODE = {}
for _class_name, _code, _name, _bases in _CODES:
    _BY_CODE[_code] = _define(_class_name, _code, _name, *_bases,
                              doc=f"shmkv error {_name} (code {_code}).")


class ArgumentTypeError(InvalidArgumentError, TypeError):  # noqa: F821 (defined above)
    """An argument of the wrong type (code invalid_argument; also a TypeError)."""


def error_for_code(code, message):
    """The exception for a C API code (an unknown code gives a plain shmkv.Error)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        err = Error(message, code)
        err.name = "unknown"
        return err
    return cls(message)
