"""Bad input and failures: validation before calling in, the exception hierarchy, codes."""
import ctypes

import pytest

import shmkv
from shmkv import _capi


def library_codes():
    """Every code the C library names (its SHMKV_ERROR_CODES table), -1 downwards."""
    codes, code = [], -1
    while _capi.lib.shmkv_errname(code).decode() != "unknown":
        codes.append(code)
        code -= 1
    return codes


def test_the_python_classes_are_exactly_the_library_codes():
    codes = library_codes()
    assert len(codes) >= 16
    python_codes = {cls.code for cls in shmkv.errors._BY_CODE.values()}
    assert python_codes == set(codes) | {-100, -101}  # + the C API's too_small, no_memory


def test_every_code_has_an_exception_named_like_the_c_api():
    for code in library_codes() + [-101]:
        err = shmkv.error_for_code(code, "msg")
        assert isinstance(err, shmkv.Error)
        assert err.code == code
        assert err.name == _capi.lib.shmkv_errname(code).decode()
        assert str(err) == "msg" and err.message == "msg"
    assert type(shmkv.error_for_code(-2, "")) is shmkv.KeyTooLongError
    assert type(shmkv.error_for_code(-4, "")) is shmkv.StoreFullError
    assert shmkv.error_for_code(-555, "m").name == "unknown"


def test_wrong_types_raise_type_errors_carrying_the_code(store):
    for call in (lambda: store.set(1, "v"), lambda: store.set("k", 1.5), lambda: store.get(None),
                 lambda: store.incr("k", "1"), lambda: store.incr("k", True),
                 lambda: store.list(prefix=3), lambda: store.list(limit="3"),
                 lambda: store.set("k", "v", ttl="10"), lambda: store.cad("k", None),
                 lambda: shmkv.open(42), lambda: shmkv.destroy(b"x")):
        with pytest.raises(TypeError) as e:
            call()
        assert isinstance(e.value, shmkv.InvalidArgumentError)
        assert isinstance(e.value, shmkv.ArgumentTypeError)
        assert e.value.code == -1 and e.value.name == "invalid_argument"


def test_bad_values_raise_value_errors(store):
    with pytest.raises(shmkv.InvalidArgumentError, match=r"limit is -1; it must be >= 0"):
        store.list(limit=-1)
    with pytest.raises(ValueError, match=r"limit is -5"):
        store.scan(limit=-5)
    with pytest.raises(shmkv.InvalidArgumentError, match=r"limit is -2"):
        store.delete_prefix("p", limit=-2)
    with pytest.raises(shmkv.InvalidArgumentError, match=r"ttl is -1"):
        store.set("k", "v", ttl=-1)
    with pytest.raises(shmkv.InvalidArgumentError, match=r"ttl is nan"):
        store.expire("k", float("nan"))
    with pytest.raises(shmkv.InvalidArgumentError, match=r"delta is 9223372036854775808"):
        store.incr("k", 2**63)
    with pytest.raises(shmkv.InvalidArgumentError, match="key is empty"):
        store.get("")
    with pytest.raises(shmkv.InvalidArgumentError, match="not encodable as UTF-8"):
        store.set("\udcff", "v")


def test_out_of_range_ttls_raise_the_shmkv_error_not_the_builtin_overflow(store):
    import datetime
    import fractions
    import math
    store.set("k", "v")
    bad = [float("inf"), float("-inf"), float("nan"), -1, -0.5, 1e300, 10**400, -10**400,
           fractions.Fraction(10**400), 2**63 // 1000 + 1]
    calls = [lambda t: store.set("k", "w", ttl=t), lambda t: store.set_if_absent("n", "w", ttl=t),
             lambda t: store.expire("k", t)]
    for ttl in bad:
        for call in calls:
            with pytest.raises(shmkv.InvalidArgumentError) as e:
                call(ttl)
            assert e.value.code == -1 and e.value.name == "invalid_argument"
            assert not isinstance(e.value, shmkv.OverflowError)
            assert str(e.value).startswith("ttl is ")
    with pytest.raises(shmkv.InvalidArgumentError, match=r"ttl is inf seconds; that is too large"):
        store.set("k", "w", ttl=float("inf"))
    with pytest.raises(shmkv.InvalidArgumentError, match=r"ttl is -inf; it must be >= 0"):
        store.set("k", "w", ttl=float("-inf"))
    assert store.get("k") == b"v" and store.ttl("k") == math.inf and store.get("n") is None
    store.set("k", "w", ttl=datetime.timedelta(days=365))
    assert 0 < store.ttl("k") < math.inf


def test_an_empty_prefix_is_refused_and_deletes_nothing(store):
    for i in range(5):
        store.set(f"k{i}", "v")
    for prefix in ("", b""):
        with pytest.raises(shmkv.InvalidArgumentError, match=r"prefix is empty.*clear\(\)"):
            store.delete_prefix(prefix)
        with pytest.raises(shmkv.InvalidArgumentError, match="prefix is empty"):
            store.delete_prefix(prefix, limit=2)
    assert store.size() == 5
    store.clear()
    assert store.size() == 0


def test_over_long_keys_and_values_are_rejected_with_sizes(store):
    with pytest.raises(shmkv.KeyTooLongError) as e:
        store.set("k" * 65, "v")
    assert str(e.value) == "key is 65 bytes; max_key_bytes is 64"
    assert e.value.code == -2 and isinstance(e.value, ValueError)
    with pytest.raises(shmkv.KeyTooLongError, match="key is 66 bytes"):
        store.get("é" * 33)  # 66 UTF-8 bytes
    with pytest.raises(shmkv.ValueTooLargeError, match="value is 4097 bytes; max_value_bytes is 4096"):
        store.set("k", b"x" * 4097)
    assert store.size() == 0


def test_library_errors_carry_code_and_message(store, name):
    with pytest.raises(shmkv.InvalidArgumentError, match="bad/name"):
        shmkv.open("bad/name")
    with pytest.raises(shmkv.NotFoundError) as e:
        shmkv.open(name + "-none", open_mode="attach_only")
    assert e.value.code == -10 and name + "-none" in str(e.value)
    with pytest.raises(shmkv.AlreadyExistsError):
        shmkv.open(name, open_mode=shmkv.OpenMode.CREATE_ONLY)
    with pytest.raises(shmkv.InvalidArgumentError, match="open_mode 'sideways'"):
        shmkv.open(name, open_mode="sideways")
    with pytest.raises(shmkv.NotFoundError):
        shmkv.destroy(name + "-none")


def test_read_only_handles(store, name):
    store.set("k", "v")
    with shmkv.open(name, open_mode="read_only") as ro:
        assert ro.get("k") == b"v"
        with pytest.raises(shmkv.ReadOnlyError, match=name):
            ro.set("k", "x")
        with pytest.raises(shmkv.ReadOnlyError):
            ro.pop_random()
    assert store.get("k") == b"v"


def test_closed_handles(name):
    s = shmkv.open(name, size_bytes=4 << 20, shards=4)
    s.close()
    s.close()  # idempotent
    assert s.closed
    with pytest.raises(shmkv.ClosedError, match="closed"):
        s.get("k")
    with shmkv.open(name) as s2:
        pass
    with pytest.raises(shmkv.ClosedError):
        s2.set("k", "v")


def test_store_full_is_reported_and_changes_nothing(name):
    with shmkv.open(name, size_bytes=1 << 20, shards=1, max_value_bytes=64 << 10) as s:
        with pytest.raises(shmkv.StoreFullError):
            for i in range(1000):
                s.set(f"k{i}", b"x" * (60 << 10))
        n = s.size()
        assert n > 0 and s.get(f"k{n}") is None


def test_direct_construction_and_pickling_are_refused(store):
    with pytest.raises(TypeError):
        shmkv.Store()
    import pickle
    with pytest.raises(TypeError, match="open it there"):
        pickle.dumps(store)


def test_c_buffer_protocol_never_truncates(store):
    store.set("k", "0123456789")
    buf = ctypes.create_string_buffer(4)
    n = ctypes.c_size_t()
    rc = _capi.lib.shmkv_get(store._h, b"k", 1, buf, 4, ctypes.byref(n))
    assert rc == _capi.ETOOSMALL and n.value == 10 and buf.raw == b"\0" * 4
