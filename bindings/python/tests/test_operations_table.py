"""docs/bindings.md's "Operations per surface" table names only what exists: every Python cell
is a shmkv function or a shmkv.Store method, every C cell a function libshmkv.so exports."""
import pathlib
import re

import shmkv
from shmkv import _capi

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "bindings.md"


def table_rows():
    text = DOC.read_text()
    body = text.split("<!-- operations table: begin -->")[1].split(
        "<!-- operations table: end -->")[0]
    rows = [line.split("|")[1:-1] for line in body.strip().splitlines()[2:]]
    assert len(rows) > 30
    return [[re.findall(r"`([^`]+)`", cell) for cell in row] for row in rows]


def test_every_python_and_c_name_of_the_table_exists():
    missing = []
    for operation, _cpp, c_names, py_names, _lua in table_rows():
        for name in c_names:
            if not hasattr(_capi.lib, name):
                missing.append(f"C {name}")
        for name in py_names:
            owner, attr = (shmkv, name[len("shmkv."):]) if name.startswith("shmkv.") else (
                shmkv.Store, name)
            if not callable(getattr(owner, attr, None)):
                missing.append(f"Python {name}")
        assert c_names and py_names, f"row {operation} lacks a C or Python name"
    assert missing == []
