"""shmkv.Store: a thin pythonic wrapper over the C API (ctypes)."""

import collections
import collections.abc
import ctypes
import datetime
import enum
import math
import os
import numbers
import struct
import threading

from . import _capi
from .errors import (ArgumentTypeError, ClosedError, InvalidArgumentError, KeyTooLongError,
                     ValueTooLargeError, error_for_code)

_lib = _capi.lib
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SIZE_MAX = 2**64 - 1

Entry = collections.namedtuple("Entry", "key value")
# A claim (Store.claim, Store.claim_random): the key, its value when claimed, the fencing token.
Claim = collections.namedtuple("Claim", "key value token")
GetOrSetResult = collections.namedtuple("GetOrSetResult", "value loaded")
CasOutcome = collections.namedtuple("CasOutcome", "swapped current")
ScanPage = collections.namedtuple("ScanPage", "entries cursor done")
KeyScanPage = collections.namedtuple("KeyScanPage", "keys cursor done")
DeletePrefixResult = collections.namedtuple("DeletePrefixResult", "deleted done")
ShardInfo = collections.namedtuple(
    "ShardInfo", "live_keys capacity arena_bytes used_bytes max_probe recoveries")
ProcessInfo = collections.namedtuple("ProcessInfo", "pid start_time alive")
Info = collections.namedtuple(
    "Info", "name layout_version layout_fingerprint created_unix_ms size_bytes shards "
    "max_key_bytes max_value_bytes max_keys arena_bytes arena_used_bytes live_keys recoveries "
    "shard processes engine coordination")
# The coordination table (Info.coordination): its counts and a GrantInfo per entry.
CoordinationInfo = collections.namedtuple(
    "CoordinationInfo", "capacity used last_token waiters recoveries grants")
# kind: "claim", "lock", "permit", "barrier" (a round's state) or "arrival"; name_head: the first
# bytes (at most 8) of the key or name, always bytes (a head may end inside a UTF-8 sequence);
# holder_pid 0: nobody; lease_left_ms -1: no lease.
GrantInfo = collections.namedtuple(
    "GrantInfo", "kind name_head name_bytes token holder_pid holder_alive lease_left_ms")
Stats = collections.namedtuple(
    "Stats", "gets hits misses sets deletes cas_success cas_failure lock_waits recoveries")


RecoveryReport = collections.namedtuple(
    "RecoveryReport", "performed directory snapshot snapshot_seq snapshot_entries "
    "rejected_snapshots journal_files records_applied records_skipped truncated truncated_bytes "
    "skipped skipped_bytes notes entries next_seq duration_us")


class OpenMode(enum.IntEnum):
    CREATE_OR_ATTACH = _capi.CREATE_OR_ATTACH
    CREATE_ONLY = _capi.CREATE_ONLY
    ATTACH_ONLY = _capi.ATTACH_ONLY
    READ_ONLY = _capi.READ_ONLY


class FsyncPolicy(enum.IntEnum):
    """When a process makes its journal records durable (persistence.hpp, FsyncPolicy)."""
    ALWAYS = _capi.FSYNC_ALWAYS
    INTERVAL = _capi.FSYNC_INTERVAL
    NEVER = _capi.FSYNC_NEVER


def _enum_arg(value, enum_type, what):
    """An enum member given as itself, its lower-case name or its number."""
    if isinstance(value, str):
        try:
            return enum_type[value.upper()]
        except KeyError:
            raise InvalidArgumentError(
                f"{what} {value!r} is not one of "
                + ", ".join(m.name.lower() for m in enum_type)) from None
    if isinstance(value, enum_type):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and \
            value in enum_type.__members__.values():
        return enum_type(value)
    raise ArgumentTypeError(f"{what} must be a shmkv.{enum_type.__name__} or its name, not "
                            f"{value!r}")


def _name_head(grant):
    """A GrantInfo's name_head bytes, NUL bytes included (reading the char array stops at one)."""
    offset = _capi.GrantInfo.name_head.offset
    return ctypes.string_at(ctypes.addressof(grant) + offset, grant.name_head_len)


def _raise_last(rc):
    message = _lib.shmkv_last_error().decode("utf-8", "replace")
    raise error_for_code(rc, message)


def _check(rc):
    if rc < 0:
        _raise_last(rc)
    return rc


def _type_name(x):
    return type(x).__name__


def _as_bytes(x, what):
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        try:
            return x.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidArgumentError(f"{what} is not encodable as UTF-8: {e}") from None
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise ArgumentTypeError(f"{what} must be bytes or str, not {_type_name(x)}")


def _int_arg(x, what, lo, hi):
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise ArgumentTypeError(f"{what} must be an int, not {_type_name(x)}")
    x = int(x)
    if x < lo or x > hi:
        if lo == 0 and x < 0:
            raise InvalidArgumentError(f"{what} is {x}; it must be >= 0")
        raise InvalidArgumentError(f"{what} is {x}; it must be in [{lo}, {hi}]")
    return x


def _path_arg(path, what):
    """A filesystem path (str, bytes or os.PathLike) -> bytes for the C API."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, str):
        path = os.fsencode(path)
    if not isinstance(path, bytes):
        raise ArgumentTypeError(f"{what} must be a str, bytes or os.PathLike, not {_type_name(path)}")
    if not path or b"\0" in path:
        raise InvalidArgumentError(f"{what} {path!r} must be non-empty and contain no NUL byte")
    return path


def _count_arg(x, what):
    return _int_arg(x, what, 0, 2**64 - 1)


def _ttl_ms(ttl, what="ttl"):
    """Seconds (int/float) or a timedelta -> milliseconds; None or 0 -> 0 (no expiry)."""
    if ttl is None:
        return 0
    if isinstance(ttl, datetime.timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, bool) or not isinstance(ttl, numbers.Real):
        raise ArgumentTypeError(
            f"{what} must be seconds (int or float) or a datetime.timedelta, not {_type_name(ttl)}")
    elif ttl < 0:  # checked before float(), which raises the built-in OverflowError past 1e308
        raise InvalidArgumentError(f"{what} is {ttl!r}; it must be >= 0 seconds")
    else:
        try:
            seconds = float(ttl)
        except OverflowError:  # an int or Fraction beyond any double: far past the int64 ms range
            seconds = math.inf
    if math.isnan(seconds) or seconds < 0:
        raise InvalidArgumentError(f"{what} is {ttl!r}; it must be >= 0 seconds")
    # inf (math.ceil(inf) raises the built-in OverflowError) and anything past int64 milliseconds
    if math.isinf(seconds) or seconds * 1000 > _INT64_MAX:
        raise InvalidArgumentError(f"{what} is {ttl!r} seconds; that is too large")
    ms = math.ceil(seconds * 1000)  # a positive TTL never rounds down to "no expiry"
    if ms > _INT64_MAX:
        raise InvalidArgumentError(f"{what} is {ttl!r} seconds; that is too large")
    return ms


def _url_arg(url):
    """Options::url for the C API: None or "" = this host's shared memory; bytes without NUL."""
    if url is None:
        return None
    if not isinstance(url, str):
        raise ArgumentTypeError(f"url must be a str, not {_type_name(url)}")
    if "\0" in url:
        raise InvalidArgumentError(f"url {url!r} contains a NUL character")
    return url.encode("utf-8")


def _name_arg(name):
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a str, not {_type_name(name)}")
    return name.encode("utf-8")


class Store:
    """A handle on one named store: a shared-memory segment, or a store on a Redis server
    (url=...). See Store.open.

    Keys and values are bytes; str arguments are encoded as UTF-8. Returned keys and values are
    bytes, or str (decoded as UTF-8) if the store was opened with text=True. Every failure raises
    a shmkv.Error subclass. A Store may be used by several threads; it must not be used across
    fork() (in the child it raises ClosedError: open a new Store there).
    """

    __slots__ = ("_h", "_name", "_text", "_max_key", "_max_value", "_lock", "__weakref__")

    def __init__(self, *args, **kwargs):
        raise TypeError("use shmkv.Store.open(name, ...) or shmkv.open(name, ...)")

    @classmethod
    def open(cls, name="default", *, url=None, open_mode=OpenMode.CREATE_OR_ATTACH,
             size_bytes=None, shards=None, max_key_bytes=None, max_value_bytes=None,
             max_keys=None, home_block_bytes=None, file_mode=None, trusted_group=None,
             persistence_directory=None, fsync=None, snapshot_interval=None,
             fsync_interval=None, keep_snapshots=None, connect_timeout=None,
             command_timeout=None, text=False):
        """Creates or attaches the store `name` (1-200 of [A-Za-z0-9._-]).

        url: where the store lives. None or "" (the default): this host's shared memory, the
        segment /dev/shm/shmkv.<name>. Else a Redis (>= 7.0) server that processes on several
        hosts share: "redis://[[user]:password@]host[:port][/db]" or
        "unix:///path/redis.sock[?db=N]"; every method then works the same, with the same
        errors, plus UnavailableError (the server cannot be reached) and OutcomeUnknownError (the
        connection was lost after a write was sent). On a server the segment's options (sizes,
        shards, file_mode, trusted_group, persistence) are refused with InvalidArgumentError;
        connect_timeout (default 2) and command_timeout (default 10; 0 = no limit) are seconds.
        The binding does not read $SHMKV_URL (the shmkv command does): pass
        url=os.environ.get("SHMKV_URL") to follow it.

        open_mode: OpenMode or its name ("create_or_attach", "create_only", "attach_only",
        "read_only"). Sizes (bytes) apply only when the segment is created; None = library
        default. file_mode: permissions of a new segment (default 0o600). trusted_group: the
        gid this store is shared with on purpose (group write needs it; a segment another user
        owns or others may write is refused without it). text: return str instead of bytes.

        Persistence (persistence.hpp): persistence_directory (str or os.PathLike; None = memory
        only) holds snapshots and journals; fsync: FsyncPolicy or its name ("always",
        "interval" (default), "never"); snapshot_interval (default 30) and fsync_interval
        (default 0.1) in seconds; keep_snapshots (default 2). The last four need a directory.
        """
        name_bytes, url_bytes = _name_arg(name), _url_arg(url)
        open_mode = _enum_arg(open_mode, OpenMode, "open_mode")
        opts = _capi.Options()
        _lib.shmkv_options_init(ctypes.byref(opts))
        opts.open_mode = int(open_mode)
        if connect_timeout is not None:
            opts.connect_timeout_ms = _ttl_ms(connect_timeout, "connect_timeout")
        if command_timeout is not None:
            opts.command_timeout_ms = _ttl_ms(command_timeout, "command_timeout")
        if persistence_directory is not None:
            directory = _path_arg(persistence_directory, "persistence_directory")
            opts.persistence_directory = directory
            if fsync is not None:
                opts.fsync_policy = int(_enum_arg(fsync, FsyncPolicy, "fsync"))
            if snapshot_interval is not None:
                opts.snapshot_interval_ms = _ttl_ms(snapshot_interval, "snapshot_interval")
            if fsync_interval is not None:
                opts.fsync_interval_ms = _ttl_ms(fsync_interval, "fsync_interval")
            if keep_snapshots is not None:
                opts.keep_snapshots = _int_arg(keep_snapshots, "keep_snapshots", 0, 2**32 - 1)
        else:
            for what, value in (("fsync", fsync), ("snapshot_interval", snapshot_interval),
                                ("fsync_interval", fsync_interval),
                                ("keep_snapshots", keep_snapshots)):
                if value is not None:
                    raise InvalidArgumentError(
                        f"{what} is {value!r} but persistence_directory is not set (a memory-only "
                        f"store has no journal or snapshots)")
        for field, value, hi in (("size_bytes", size_bytes, _SIZE_MAX), ("shards", shards, 2**32 - 1),
                                 ("max_key_bytes", max_key_bytes, 2**32 - 1),
                                 ("max_value_bytes", max_value_bytes, 2**32 - 1),
                                 ("max_keys", max_keys, _SIZE_MAX),
                                 ("home_block_bytes", home_block_bytes, 2**32 - 1),
                                 ("mode", file_mode, 2**32 - 1),
                                 ("trusted_group", trusted_group, 2**32 - 1)):
            if value is not None:
                setattr(opts, field, _int_arg(value, "file_mode" if field == "mode" else field,
                                              0, hi))
        handle = ctypes.c_void_p()
        _check(_lib.shmkv_open_url(url_bytes, name_bytes, ctypes.byref(opts),
                                   ctypes.sizeof(opts), ctypes.byref(handle)))
        self = object.__new__(cls)
        self._h = handle
        self._name = name
        self._text = bool(text)
        self._lock = threading.Lock()
        info = _capi.Info()
        try:
            _check(_lib.shmkv_info_get(handle, ctypes.byref(info), ctypes.sizeof(info)))
        except BaseException:
            self._h = None
            _lib.shmkv_close(handle)
            raise
        self._max_key = info.max_key_bytes
        self._max_value = info.max_value_bytes
        return self

    # --- lifecycle ---

    def close(self):
        """Detaches. Idempotent; afterwards every call raises ClosedError."""
        with self._lock:
            h, self._h = self._h, None
        if h is not None:
            _lib.shmkv_close(h)

    @property
    def closed(self):
        return self._h is None

    @property
    def name(self):
        return self._name

    @property
    def max_key_bytes(self):
        return self._max_key

    @property
    def max_value_bytes(self):
        return self._max_value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            if getattr(self, "_h", None) is not None:
                _lib.shmkv_close(self._h)
                self._h = None
        except Exception:
            pass

    def __reduce__(self):
        raise TypeError(f"a shmkv.Store cannot be pickled or sent to another process; pass the "
                        f"name ({self._name!r}) and open it there")

    def __repr__(self):
        state = "closed" if self._h is None else "open"
        return f"<shmkv.Store {self._name!r} {state}>"

    # --- helpers ---

    def _handle(self):
        h = self._h
        if h is None:
            raise ClosedError(f"store {self._name!r} is closed")
        return h

    def _key(self, key, what="key"):
        k = _as_bytes(key, what)
        if not k:
            raise InvalidArgumentError(f"{what} is empty; keys are 1..{self._max_key} bytes")
        if len(k) > self._max_key:
            raise KeyTooLongError(f"{what} is {len(k)} bytes; max_key_bytes is {self._max_key}")
        return k

    def _value(self, value, what="value"):
        v = _as_bytes(value, what)
        if len(v) > self._max_value:
            raise ValueTooLargeError(
                f"{what} is {len(v)} bytes; max_value_bytes is {self._max_value}")
        return v

    def _prefix(self, prefix):
        return _as_bytes(prefix, "prefix")

    @staticmethod
    def _range(prefix, from_, to):
        """The shmkv_range of a prefix and the bounds [from_, to) (b"" = no such bound)."""
        p, f, t = _as_bytes(prefix, "prefix"), _as_bytes(from_, "from_"), _as_bytes(to, "to")
        # Lengths from the bytes themselves: reading a c_char_p field back stops at a NUL byte.
        return _capi.Range(p, len(p), f, len(f), t, len(t))

    def _out(self, b):
        return b.decode("utf-8") if self._text else b

    @staticmethod
    def _take(ptr, n):
        """Copies and frees a malloc'ed result of the C API."""
        try:
            return ctypes.string_at(ptr, n)
        finally:
            _lib.shmkv_free(ptr)

    @classmethod
    def _take_block(cls, ptr, size, count, layout):
        """Reads and frees a block of count records of the C API (shmkv.h; native byte order):
        "entries" (uint32 key_len, uint32 value_len, key, value) -> [(key, value)], "keys"
        (uint32 key_len, key) -> [key], "values" (uint32 found, uint32 value_len, value) ->
        [value or None]. Bytes, not yet decoded."""
        if count == 0 or not ptr:
            return []
        data = cls._take(ptr, size)
        out, off = [], 0
        for _ in range(count):
            if layout == "keys":
                (kl,) = struct.unpack_from("=I", data, off)
                out.append(data[off + 4:off + 4 + kl])
                off += 4 + kl
                continue
            first, vl = struct.unpack_from("=II", data, off)
            off += 8
            if layout == "entries":
                out.append((data[off:off + first], data[off + first:off + first + vl]))
                off += first + vl
            else:
                out.append(data[off:off + vl] if first else None)
                off += vl
        return out

    def _taken(self, c_call, *args, token=None):
        """Runs a C call that returns an entry in malloc'ed copies through its last four out
        arguments (key, key_len, value, value_len; then token, a c_uint64, if given): the
        (key, value) it took, decoded as the store decodes, or None when it took nothing."""
        kp, kl, vp, vl = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_void_p(), ctypes.c_size_t()
        outs = [ctypes.byref(kp), ctypes.byref(kl), ctypes.byref(vp), ctypes.byref(vl)]
        if token is not None:
            outs.append(ctypes.byref(token))
        if _check(c_call(*args, *outs)) == 0:
            return None
        key = self._take(kp, kl.value)
        value = self._take(vp, vl.value)
        return self._out(key), self._out(value)

    @staticmethod
    def _take_messages(ptr, size):
        """Reads and frees a block of NUL-terminated messages of the C API."""
        if not ptr:
            return []
        data = Store._take(ptr, size)
        return [m.decode("utf-8", "replace") for m in data.split(b"\0")[:-1]]

    @staticmethod
    def _batch(items):
        """A batch argument of the C API (checked bytes): (array of pointers, array of lengths),
        (None, None) when empty."""
        if not items:
            return None, None
        return (ctypes.c_char_p * len(items))(*items), (ctypes.c_size_t * len(items))(
            *(len(i) for i in items))

    # --- single keys ---

    def get(self, key, default=None):
        """The value at key, or default if absent."""
        h, k = self._handle(), self._key(key)
        ptr, n = ctypes.c_void_p(), ctypes.c_size_t()
        if _check(_lib.shmkv_get_alloc(h, k, len(k), ctypes.byref(ptr), ctypes.byref(n))) == 0:
            return default
        return self._out(self._take(ptr, n.value))

    def set(self, key, value, ttl=None):
        """Stores value at key; ttl: seconds or timedelta (None/0 = no expiry)."""
        h, k, v, ms = self._handle(), self._key(key), self._value(value), _ttl_ms(ttl)
        _check(_lib.shmkv_set(h, k, len(k), v, len(v), ms))

    def set_if_absent(self, key, value, ttl=None):
        """Stores value with ttl only if key is absent. True if stored (a present key keeps its
        value and TTL)."""
        h, k, v, ms = self._handle(), self._key(key), self._value(value), _ttl_ms(ttl)
        return _check(_lib.shmkv_set_if_absent(h, k, len(k), v, len(v), ms)) == 1

    def exists(self, key):
        h, k = self._handle(), self._key(key)
        return _check(_lib.shmkv_exists(h, k, len(k))) == 1

    def delete(self, key):
        """Deletes key. True if it existed."""
        h, k = self._handle(), self._key(key)
        return _check(_lib.shmkv_delete(h, k, len(k))) == 1

    def __contains__(self, key):
        return self.exists(key)

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        self.set(key, value)

    def __delitem__(self, key):
        if not self.delete(key):
            raise KeyError(key)

    def __len__(self):
        return self.size()

    # --- counters ---

    def incr(self, key, delta=1):
        """Adds delta to the decimal int64 at key (absent = 0); returns the new value.
        Raises NotANumberError or OverflowError (then nothing changed)."""
        h, k = self._handle(), self._key(key)
        d = _int_arg(delta, "delta", _INT64_MIN, _INT64_MAX)
        out = ctypes.c_int64()
        _check(_lib.shmkv_incr(h, k, len(k), d, ctypes.byref(out)))
        return out.value

    def decr(self, key, delta=1):
        d = _int_arg(delta, "delta", _INT64_MIN + 1, _INT64_MAX)
        return self.incr(key, -d)

    # --- atomic helpers ---

    # TTL rule (Redis's): a call that stores a value gives the key the ttl it is passed (None/0 =
    # no expiry) and drops the TTL it had: set, swap, cas, and get_or_set / set_if_absent when
    # they store. A key they leave alone keeps its TTL; incr keeps the TTL.

    def get_or_set(self, key, value, ttl=None):
        """Returns GetOrSetResult(value, loaded): the existing value and loaded=True (the key
        keeps its TTL), or the given value (now stored with ttl) and loaded=False."""
        h, k, v, ms = self._handle(), self._key(key), self._value(value), _ttl_ms(ttl)
        n = ctypes.c_size_t()
        size = 256
        while True:
            buf = ctypes.create_string_buffer(size)
            rc = _lib.shmkv_get_or_set_ttl(h, k, len(k), v, len(v), ms, buf, size,
                                           ctypes.byref(n))
            if rc == _capi.ETOOSMALL:
                size = n.value
                continue
            _check(rc)
            if rc == 0:
                return GetOrSetResult(self._out(v), False)
            return GetOrSetResult(self._out(buf.raw[:n.value]), True)

    def swap(self, key, value, ttl=None):
        """Stores value with ttl; returns the value it replaced, or None if the key was absent."""
        h, k, v, ms = self._handle(), self._key(key), self._value(value), _ttl_ms(ttl)
        ptr, n = ctypes.c_void_p(), ctypes.c_size_t()
        if _check(_lib.shmkv_swap_ttl(h, k, len(k), v, len(v), ms, ctypes.byref(ptr),
                                      ctypes.byref(n))) == 0:
            return None
        return self._out(self._take(ptr, n.value))

    def cas(self, key, expected, value, ttl=None):
        """Compare-and-swap: stores value with ttl if key holds expected (None = only if
        absent). True if stored; False changed nothing."""
        h, k, v, ms = self._handle(), self._key(key), self._value(value), _ttl_ms(ttl)
        e = None if expected is None else _as_bytes(expected, "expected")
        return _check(_lib.shmkv_cas_ttl(h, k, len(k), e, 0 if e is None else len(e), v, len(v),
                                         ms)) == 1

    def cas_detailed(self, key, expected, value, ttl=None):
        """cas that also says what the key holds: CasOutcome(swapped, current). current is the
        value stored when swapped, else the value that failed the comparison (read under the
        same lock; None if the key is absent), so a retry needs no second read."""
        h, k, v, ms = self._handle(), self._key(key), self._value(value), _ttl_ms(ttl)
        e = None if expected is None else _as_bytes(expected, "expected")
        n, present = ctypes.c_size_t(), ctypes.c_int()
        size = 256
        while True:
            buf = ctypes.create_string_buffer(size)
            rc = _lib.shmkv_cas_detailed(h, k, len(k), e, 0 if e is None else len(e), v, len(v),
                                         ms, buf, size, ctypes.byref(n), ctypes.byref(present))
            if rc == _capi.ETOOSMALL:
                size = n.value
                continue
            if _check(rc) == 1:
                return CasOutcome(True, self._out(v))
            return CasOutcome(False, self._out(buf.raw[:n.value]) if present.value else None)

    def cad(self, key, expected):
        """Compare-and-delete: deletes key if it holds expected. True if deleted."""
        h, k = self._handle(), self._key(key)
        e = _as_bytes(expected, "expected")
        return _check(_lib.shmkv_cad(h, k, len(k), e, len(e))) == 1

    # --- TTL ---

    def expire(self, key, ttl):
        """Sets key's TTL (seconds or timedelta; None/0 removes it). False if absent."""
        h, k, ms = self._handle(), self._key(key), _ttl_ms(ttl)
        return _check(_lib.shmkv_expire(h, k, len(k), ms)) == 1

    def ttl(self, key):
        """Remaining seconds (float): None if absent, math.inf if the key has no expiry."""
        h, k = self._handle(), self._key(key)
        out = ctypes.c_int64()
        if _check(_lib.shmkv_ttl(h, k, len(k), ctypes.byref(out))) == 0:
            return None
        return math.inf if out.value == 0 else out.value / 1000.0

    # --- ordered reads ---

    def _collector(self):
        entries = []
        out = self._out

        def on_entry(_ctx, kp, kl, vp, vl):
            entries.append(Entry(out(ctypes.string_at(kp, kl)), out(ctypes.string_at(vp, vl))))
            return 0

        return entries, _capi.ENTRY_FN(on_entry)

    def _key_collector(self):
        keys = []
        out = self._out

        def on_key(_ctx, kp, kl):
            keys.append(out(ctypes.string_at(kp, kl)))
            return 0

        return keys, _capi.KEY_FN(on_key)

    # Ranges: every ordered read, count and delete_range select the keys that start with prefix,
    # are >= from_ and are < to (b"" = no such bound; from_ because from is a Python keyword).
    # A non-empty to below from_ raises InvalidArgumentError naming both; to == from_ is empty.

    def _list(self, c_list, collector, prefix, limit, from_, to):
        h, r = self._handle(), self._range(prefix, from_, to)
        limit = _int_arg(limit, "limit", 0, _SIZE_MAX)
        items, fn = collector()
        _check(c_list(h, ctypes.byref(r), limit, fn, None, None))
        return items

    def list(self, prefix=b"", limit=0, *, from_=b"", to=b""):
        """Entries (key, value) in the range, in byte order of keys; at most limit (0 = all)."""
        return self._list(_lib.shmkv_list_range, self._collector, prefix, limit, from_, to)

    def list_keys(self, prefix=b"", limit=0, *, from_=b"", to=b""):
        """The keys list would return, without copying the values."""
        return self._list(_lib.shmkv_list_keys, self._key_collector, prefix, limit, from_, to)

    def _scan(self, c_scan, collector, prefix, limit, cursor, from_, to):
        h, r = self._handle(), self._range(prefix, from_, to)
        limit = _int_arg(limit, "limit", 0, _SIZE_MAX)
        c = _as_bytes(cursor, "cursor")
        items, fn = collector()
        cap = self._max_key  # a cursor is a key: never too small
        nxt = ctypes.create_string_buffer(max(cap, len(c), 1))
        n, done = ctypes.c_size_t(), ctypes.c_int()
        _check(c_scan(h, ctypes.byref(r), c, len(c), limit, fn, None, nxt, len(nxt),
                      ctypes.byref(n), ctypes.byref(done)))
        return items, self._out(nxt.raw[:n.value]), bool(done.value)

    def scan(self, prefix=b"", limit=0, cursor=b"", *, from_=b"", to=b""):
        """One page: ScanPage(entries, cursor, done). Pass the returned cursor back to continue."""
        return ScanPage(*self._scan(_lib.shmkv_scan_range, self._collector, prefix, limit, cursor,
                                    from_, to))

    def scan_keys(self, prefix=b"", limit=0, cursor=b"", *, from_=b"", to=b""):
        """scan without the values: KeyScanPage(keys, cursor, done)."""
        return KeyScanPage(*self._scan(_lib.shmkv_scan_keys, self._key_collector, prefix, limit,
                                       cursor, from_, to))

    def items(self, prefix=b"", page_size=1000, *, from_=b"", to=b""):
        """Iterates over every (key, value) in the range, a page (scan) at a time."""
        cursor = b""
        while True:
            page = self.scan(prefix, page_size, cursor, from_=from_, to=to)
            yield from page.entries
            if page.done:
                return
            cursor = page.cursor

    def count(self, prefix=b"", *, from_=b"", to=b""):
        """Live keys in the range."""
        h, r = self._handle(), self._range(prefix, from_, to)
        out = ctypes.c_uint64()
        _check(_lib.shmkv_count_range(h, ctypes.byref(r), ctypes.byref(out)))
        return out.value

    def delete_prefix(self, prefix, limit=0):
        """Deletes up to limit (0 = all) keys with the prefix: DeletePrefixResult(deleted, done)."""
        h, p = self._handle(), self._prefix(prefix)
        limit = _int_arg(limit, "limit", 0, _SIZE_MAX)
        deleted, done = ctypes.c_uint64(), ctypes.c_int()
        _check(_lib.shmkv_delete_prefix(h, p, len(p), limit, ctypes.byref(deleted),
                                        ctypes.byref(done)))
        return DeletePrefixResult(deleted.value, bool(done.value))

    def delete_range(self, prefix=b"", limit=0, *, from_=b"", to=b""):
        """Deletes up to limit (0 = all) keys in the range: DeletePrefixResult(deleted, done).
        A range with no prefix, from_ or to raises InvalidArgumentError (clear() does that)."""
        h, r = self._handle(), self._range(prefix, from_, to)
        limit = _int_arg(limit, "limit", 0, _SIZE_MAX)
        deleted, done = ctypes.c_uint64(), ctypes.c_int()
        _check(_lib.shmkv_delete_range(h, ctypes.byref(r), limit, ctypes.byref(deleted),
                                       ctypes.byref(done)))
        return DeletePrefixResult(deleted.value, bool(done.value))

    def clear(self):
        _check(_lib.shmkv_clear(self._handle()))

    # --- batches (every key and value is checked first: one bad entry raises, nothing is
    # written; each key is applied atomically, the batch as a whole is not) ---

    def get_many(self, keys):
        """The values of keys, in order (None for an absent key)."""
        h = self._handle()
        ks = [self._key(k, f"keys[{i}]") for i, k in enumerate(keys)]
        arr, lens = self._batch(ks)
        block, size, found = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_size_t()
        _check(_lib.shmkv_get_many(h, arr, lens, len(ks), ctypes.byref(block), ctypes.byref(size),
                                   ctypes.byref(found)))
        return [None if v is None else self._out(v)
                for v in self._take_block(block, size.value, len(ks), "values")]

    def set_many(self, pairs, ttl=None):
        """Stores every (key, value) of pairs (a mapping or an iterable of pairs), each with the
        TTL (seconds or timedelta; None/0 = no expiry)."""
        h, ms = self._handle(), _ttl_ms(ttl)
        items = pairs.items() if isinstance(pairs, collections.abc.Mapping) else pairs
        ks, vs = [], []
        for i, (k, v) in enumerate(items):
            ks.append(self._key(k, f"keys[{i}]"))
            vs.append(self._value(v, f"values[{i}]"))
        karr, klens = self._batch(ks)
        varr, vlens = self._batch(vs)
        _check(_lib.shmkv_set_many(h, karr, klens, varr, vlens, len(ks), ms))

    def delete_many(self, keys):
        """Deletes keys; returns how many existed."""
        h = self._handle()
        ks = [self._key(k, f"keys[{i}]") for i, k in enumerate(keys)]
        arr, lens = self._batch(ks)
        deleted = ctypes.c_uint64()
        _check(_lib.shmkv_delete_many(h, arr, lens, len(ks), ctypes.byref(deleted)))
        return deleted.value

    def backup(self, path):
        """Write a point-in-time copy to path (atomic). Returns {"entries", "bytes"}."""
        path = _path_arg(path, "path")
        entries, size = ctypes.c_uint64(), ctypes.c_uint64()
        _check(_lib.shmkv_backup(self._handle(), path, ctypes.byref(entries), ctypes.byref(size)))
        return {"entries": entries.value, "bytes": size.value}

    def restore(self, path, max_entries=0, max_bytes=0):
        """Replace the whole content with the backup at path, all or nothing.
        Returns {"entries", "bytes"}."""
        path = _path_arg(path, "path")
        max_entries = _count_arg(max_entries, "max_entries")
        max_bytes = _count_arg(max_bytes, "max_bytes")
        entries, size = ctypes.c_uint64(), ctypes.c_uint64()
        _check(_lib.shmkv_restore(self._handle(), path, max_entries, max_bytes,
                                  ctypes.byref(entries), ctypes.byref(size)))
        return {"entries": entries.value, "bytes": size.value}

    # --- persistence (a store opened with persistence_directory; see persistence.hpp) ---

    def sync(self):
        """Makes every mutation this handle acknowledged durable (journal write + fdatasync).
        Memory-only store: does nothing. Raises IoError naming the file and errno."""
        _check(_lib.shmkv_sync(self._handle()))

    def snapshot(self):
        """Writes a snapshot into the persistence directory now: {"entries", "bytes"}.
        InvalidArgumentError for a memory-only store, BusyError while one is running."""
        entries, size = ctypes.c_uint64(), ctypes.c_uint64()
        _check(_lib.shmkv_snapshot(self._handle(), ctypes.byref(entries), ctypes.byref(size)))
        return {"entries": entries.value, "bytes": size.value}

    def recovery_report(self):
        """What the recovery that created this handle's segment did: a RecoveryReport
        (performed=False when the segment existed or persistence is off)."""
        r = _capi.RecoveryReport()
        block, size = ctypes.c_void_p(), ctypes.c_size_t()
        _check(_lib.shmkv_recovery_report_get(self._handle(), ctypes.byref(r), ctypes.sizeof(r),
                                              ctypes.byref(block), ctypes.byref(size)))
        texts = {"directory": [], "snapshot": [], "rejected_snapshots": [], "truncated": [],
                 "skipped": [], "notes": []}
        for message in self._take_messages(block, size.value):  # "<field>: <text>"
            field, _, text = message.partition(": ")
            texts[field].append(text)
        counts = {f: getattr(r, f) for f, _ in _capi.RecoveryReport._fields_
                    if f not in ("performed", "reserved")}
        return RecoveryReport(performed=bool(r.performed),
                              directory=(texts.pop("directory") or [""])[0],
                              snapshot=(texts.pop("snapshot") or [""])[0], **texts, **counts)

    def export_jsonl(self, path):
        """Writes the store as JSONL (one JSON object per line, persistence.hpp) to path,
        atomically: {"entries", "bytes"}."""
        path = _path_arg(path, "path")
        entries, size = ctypes.c_uint64(), ctypes.c_uint64()
        _check(_lib.shmkv_export_jsonl(self._handle(), path, ctypes.byref(entries),
                                       ctypes.byref(size)))
        return {"entries": entries.value, "bytes": size.value}

    def import_jsonl(self, path, max_entries=0, max_bytes=0):
        """Replaces the whole content with the JSONL file at path, all or nothing (as restore):
        {"entries", "bytes", "duplicates"} (duplicates: lines replaced by a later one for the
        same key). A malformed line raises CorruptedError naming its line and column."""
        path = _path_arg(path, "path")
        max_entries = _count_arg(max_entries, "max_entries")
        max_bytes = _count_arg(max_bytes, "max_bytes")
        entries, size, duplicates = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
        _check(_lib.shmkv_import_jsonl(self._handle(), path, max_entries, max_bytes,
                                       ctypes.byref(entries), ctypes.byref(size),
                                       ctypes.byref(duplicates)))
        return {"entries": entries.value, "bytes": size.value, "duplicates": duplicates.value}

    def size(self):
        """Live (unexpired) keys."""
        out = ctypes.c_uint64()
        _check(_lib.shmkv_size(self._handle(), ctypes.byref(out)))
        return out.value

    # --- random ---

    def random_key(self, prefix=b""):
        """A key drawn uniformly from the live keys with the prefix, or None."""
        h, p = self._handle(), self._prefix(prefix)
        buf = ctypes.create_string_buffer(self._max_key)  # a key always fits
        n = ctypes.c_size_t()
        if _check(_lib.shmkv_random_key(h, p, len(p), buf, len(buf), ctypes.byref(n))) == 0:
            return None
        return self._out(buf.raw[:n.value])

    def pop_random(self, prefix=b""):
        """Atomically removes a random live entry with the prefix: Entry(key, value) or None.
        Two processes never pop the same entry."""
        h, p = self._handle(), self._prefix(prefix)
        taken = self._taken(_lib.shmkv_pop_random, h, p, len(p))
        return None if taken is None else Entry(*taken)

    def pop_random_many(self, prefix, n):
        """Pops up to n (1..1,000,000) entries with the prefix, as n pop_random calls would
        (each atomic; two processes never pop the same entry): a list of Entry, shorter when
        fewer match."""
        h, p = self._handle(), self._prefix(prefix)
        n = _int_arg(n, "n", 0, _SIZE_MAX)  # the library names an n outside 1..1,000,000
        block, size = ctypes.c_void_p(), ctypes.c_size_t()
        count = _check(_lib.shmkv_pop_random_many(h, p, len(p), n, ctypes.byref(block),
                                                  ctypes.byref(size)))
        return [Entry(self._out(k), self._out(v))
                for k, v in self._take_block(block, size.value, count, "entries")]

    def random_keys(self, count, prefix=b"", unique=False):
        """count (1..1,000,000) keys drawn uniformly from the live keys with the prefix (a
        list; empty when none matches). unique: no key twice (then at most the matching keys)."""
        h, p = self._handle(), self._prefix(prefix)
        count = _int_arg(count, "count", 0, _SIZE_MAX)  # the library names one outside 1..1e6
        block, size = ctypes.c_void_p(), ctypes.c_size_t()
        n = _check(_lib.shmkv_random_keys(h, p, len(p), count, 1 if unique else 0,
                                          ctypes.byref(block), ctypes.byref(size)))
        return [self._out(k) for k in self._take_block(block, size.value, n, "keys")]

    # --- coordination: claims, locks and semaphores (shared-memory stores) ---
    # Each grant is held by this process until it is given back, its lease runs out, or the
    # process dies: the next attempt by anyone then takes it, without waiting for the lease.
    # Leases and waits are seconds (int or float) or a timedelta, as ttl; a lease must be > 0, a
    # wait may be 0 (do not wait). Tokens only grow (fencing): a call with a token that no longer
    # holds the grant changes nothing and returns False. On a url's server these raise
    # InvalidArgumentError (not built there yet).

    def _token(self, token):
        return _int_arg(token, "token", 0, 2**64 - 1)

    def claim(self, key, lease):
        """Claims the live key: Claim(key, value, token), or None if it is absent or claimed by
        another live holder. The key stays in the store (get and list see it); claim,
        claim_random and pop_random of anyone leave it alone until the claim ends."""
        h, k, ms = self._handle(), self._key(key), _ttl_ms(lease, "lease")
        vp, vl, token = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_uint64()
        if _check(_lib.shmkv_claim(h, k, len(k), ms, ctypes.byref(vp), ctypes.byref(vl),
                                   ctypes.byref(token))) == 0:
            return None
        return Claim(self._out(k), self._out(self._take(vp, vl.value)), token.value)

    def claim_random(self, prefix, lease):
        """Claims a key drawn uniformly from the live unclaimed keys with the prefix: a Claim, or
        None if there is none."""
        h, p, ms = self._handle(), self._prefix(prefix), _ttl_ms(lease, "lease")
        token = ctypes.c_uint64()
        taken = self._taken(_lib.shmkv_claim_random, h, p, len(p), ms, token=token)
        return None if taken is None else Claim(*taken, token.value)

    def renew(self, key, token, lease):
        """Extends the claim the token still holds to lease from now: True, or False if it no
        longer holds it."""
        h, k, ms = self._handle(), self._key(key), _ttl_ms(lease, "lease")
        return _check(_lib.shmkv_renew(h, k, len(k), self._token(token), ms)) == 1

    def release(self, key, token):
        """Gives the claim back (the key returns to the pool): True, or False if the token no
        longer holds it."""
        h, k = self._handle(), self._key(key)
        return _check(_lib.shmkv_release(h, k, len(k), self._token(token))) == 1

    def complete(self, key, token):
        """Ends the claim and deletes the key, atomically: True, or False (nothing deleted) if
        the token no longer holds it."""
        h, k = self._handle(), self._key(key)
        return _check(_lib.shmkv_complete(h, k, len(k), self._token(token))) == 1

    def lock(self, name, lease, wait=0):
        """Takes the named lock for lease: its token, or None when another live holder kept it
        for all of wait. A waiter sleeps on a futex, woken by unlock, by the holder's exit or at
        the holder's lease end."""
        h, n = self._handle(), self._key(name, "name")
        lease_ms, wait_ms = _ttl_ms(lease, "lease"), _ttl_ms(wait, "wait")
        token = ctypes.c_uint64()
        if _check(_lib.shmkv_lock(h, n, len(n), lease_ms, wait_ms, ctypes.byref(token))) == 0:
            return None
        return token.value

    def unlock(self, name, token):
        """Releases the lock the token holds: True, or False if it no longer holds it."""
        h, n = self._handle(), self._key(name, "name")
        return _check(_lib.shmkv_unlock(h, n, len(n), self._token(token))) == 1

    def acquire(self, semaphore, permits, wait=0):
        """Takes a permit of the counting semaphore with `permits` permits (pass the same count
        everywhere): its token, or None after wait. A permit has no lease: it is held until
        release_permit or this process's death."""
        h, n = self._handle(), self._key(semaphore, "semaphore")
        permits = _int_arg(permits, "permits", 0, 2**32 - 1)  # the library names 0
        token = ctypes.c_uint64()
        if _check(_lib.shmkv_acquire(h, n, len(n), permits, _ttl_ms(wait, "wait"),
                                     ctypes.byref(token))) == 0:
            return None
        return token.value

    def release_permit(self, semaphore, token):
        """Gives the permit back: True, or False if the token no longer holds one."""
        h, n = self._handle(), self._key(semaphore, "semaphore")
        return _check(_lib.shmkv_release_permit(h, n, len(n), self._token(token))) == 1

    # --- waiting without polling (shared-memory stores): a futex in the segment that writers
    # move while anyone waits. timeout: seconds or a timedelta (0 = do not wait). ---

    def wait_for(self, key, timeout):
        """True once key exists (at once if it does); False after timeout."""
        h, k = self._handle(), self._key(key)
        return _check(_lib.shmkv_wait_for(h, k, len(k), _ttl_ms(timeout, "timeout"))) == 1

    def pop_random_wait(self, prefix, timeout):
        """pop_random(prefix), waiting up to timeout for a key to pop: an Entry, or None."""
        h, p, ms = self._handle(), self._prefix(prefix), _ttl_ms(timeout, "timeout")
        taken = self._taken(_lib.shmkv_pop_random_wait, h, p, len(p), ms)
        return None if taken is None else Entry(*taken)

    def barrier(self, name, parties, timeout):
        """Waits until `parties` processes have arrived at the barrier (pass the same count
        everywhere): this arrival's index, 0 .. parties - 1 (the last to arrive gets
        parties - 1), or None after timeout (the arrival is withdrawn). Reusable. A party that
        dies while the others wait breaks the round: they raise BrokenError."""
        h, n = self._handle(), self._key(name, "name")
        parties = _int_arg(parties, "parties", 0, 2**32 - 1)  # the library names 0
        index = ctypes.c_uint32()
        if _check(_lib.shmkv_barrier(h, n, len(n), parties, _ttl_ms(timeout, "timeout"),
                                     ctypes.byref(index))) == 0:
            return None
        return index.value

    # --- whole store ---

    def info(self):
        h = self._handle()
        i = _capi.Info()
        _check(_lib.shmkv_info_get(h, ctypes.byref(i), ctypes.sizeof(i)))
        n = ctypes.c_size_t()
        shards = (_capi.ShardInfo * i.shards)()
        _check(_lib.shmkv_info_shards(h, shards, i.shards, ctypes.byref(n)))
        procs = self._info_array(_lib.shmkv_info_processes, _capi.ProcessInfo,
                                 max(64, int(i.processes) * 2))
        grants = self._info_array(_lib.shmkv_info_grants, _capi.GrantInfo,
                                  max(64, int(i.coordination_used) * 2))
        return Info(
            name=i.name.decode("utf-8"), layout_version=i.layout_version,
            layout_fingerprint=i.layout_fingerprint, created_unix_ms=i.created_unix_ms,
            size_bytes=i.size_bytes, shards=i.shards, max_key_bytes=i.max_key_bytes,
            max_value_bytes=i.max_value_bytes, max_keys=i.max_keys, arena_bytes=i.arena_bytes,
            arena_used_bytes=i.arena_used_bytes, live_keys=i.live_keys, recoveries=i.recoveries,
            shard=[ShardInfo(s.live_keys, s.capacity, s.arena_bytes, s.used_bytes, s.max_probe,
                             s.recoveries) for s in shards],
            processes=[ProcessInfo(p.pid, p.start_time, bool(p.alive)) for p in procs],
            engine=i.engine.decode("utf-8"),
            coordination=CoordinationInfo(
                i.coordination_capacity, i.coordination_used, i.coordination_last_token,
                i.coordination_waiters, i.coordination_recoveries,
                [GrantInfo(g.kind.decode("utf-8"), _name_head(g), g.name_bytes, g.token,
                           g.holder_pid, bool(g.holder_alive), g.lease_left_ms)
                 for g in grants]))

    def _info_array(self, c_fill, item_type, cap):
        """The items an shmkv_info_* array call fills (retried with the size it asks for)."""
        n = ctypes.c_size_t()
        while True:
            items = (item_type * cap)()
            rc = c_fill(self._handle(), items, cap, ctypes.byref(n))
            if rc != _capi.ETOOSMALL:
                _check(rc)
                return items[:n.value]
            cap = n.value

    def check_invariants(self):
        """Verifies every shard's invariants: a list of messages, one per violation (empty when
        healthy)."""
        report, size = ctypes.c_void_p(), ctypes.c_size_t()
        _check(_lib.shmkv_check_invariants(self._handle(), ctypes.byref(report),
                                           ctypes.byref(size)))
        return self._take_messages(report, size.value)

    def stats(self):
        s = _capi.Stats()
        _check(_lib.shmkv_stats_get(self._handle(), ctypes.byref(s), ctypes.sizeof(s)))
        return Stats(*(getattr(s, f) for f, _ in _capi.Stats._fields_))


_MISSING = object()


def open(name="default", **kwargs):  # noqa: A001 (shmkv.open mirrors Store.open)
    """shmkv.open(name, ...) is Store.open(name, ...)."""
    return Store.open(name, **kwargs)


def destroy(name, url=None):
    """Removes the named store: the segment (attached processes keep their mapping until they
    close), or with url (see Store.open) every key of the store on that server."""
    _check(_lib.shmkv_destroy_url(_url_arg(url), _name_arg(name)))


def segment_exists(name, url=None):
    """True if the named store exists (the segment, or with url the store on that server)."""
    return _check(_lib.shmkv_segment_exists_url(_url_arg(url), _name_arg(name))) == 1

