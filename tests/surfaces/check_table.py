#!/usr/bin/env python3
"""check_table.py: the operation table in README.md and docs/bindings.md ("Every operation, every
surface") is true: every name in it is called, through its surface, by that surface's tour.

    check_table.py --readme README.md --doc docs/bindings.md --scratch DIR \
        --surface cpp "CMD..." --surface c "CMD..." --surface cli "CMD..." ...

Each --surface runs CMD (split on spaces) with two more arguments: a store name of its own and
a scratch directory. A tour calls operations, checks each result, and prints "called NAME"
after each check passed; it exits non-zero on a failed check. The test fails when:
  - a tour fails;
  - a name in a surface's column is not among what its tour printed (a cell nobody called);
  - a tour called a name its column does not list (the table is incomplete);
  - the two documents' tables differ.
A cell lists one or more names in backquotes, or "-" where the surface does not offer the
operation (the reason is in the docs' notes under the table).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

MARKER = "<!-- operation-table -->"
COLUMNS = ["cpp", "c", "cli", "python", "lua", "node"]


def read_table(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    try:
        start = lines.index(MARKER) + 1
    except ValueError:
        sys.exit(f"{path}: no line '{MARKER}' before the operation table")
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append(line)
    if len(rows) < 3:
        sys.exit(f"{path}: the operation table after '{MARKER}' has no rows")
    table = []
    for line in rows[2:]:  # header, separator
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 1 + len(COLUMNS):
            sys.exit(f"{path}: row '{line}' has {len(cells)} cells, not {1 + len(COLUMNS)}")
        table.append(cells)
    return rows, table


def column_names(table, column):
    names = {}
    for row in table:
        cell = row[1 + column]
        found = re.findall(r"`([^`]+)`", cell)
        if not found and cell not in ("-", "—"):
            sys.exit(f"row '{row[0]}': cell '{cell}' names no call in backquotes and is not '-'")
        for name in found:
            names[name] = row[0]
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--readme", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--scratch", required=True)
    ap.add_argument("--surface", nargs=2, action="append", metavar=("NAME", "CMD"), required=True)
    args = ap.parse_args()

    readme_rows, table = read_table(args.readme)
    doc_rows, _ = read_table(args.doc)
    failures = []
    if readme_rows != doc_rows:
        failures.append(f"the operation tables in {args.readme} and {args.doc} differ")

    for surface, command in args.surface:
        if surface not in COLUMNS:
            sys.exit(f"unknown surface {surface}; one of {COLUMNS}")
        listed = column_names(table, COLUMNS.index(surface))
        scratch = os.path.join(args.scratch, surface)
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)
        store = f"surface-tour-{surface}-{os.getpid()}"
        run = subprocess.run(command.split() + [store, scratch], capture_output=True, text=True,
                             timeout=240)
        leftover = f"/dev/shm/shmkv.{store}"  # a tour that failed midway leaves its store
        if os.path.exists(leftover):
            os.remove(leftover)
        called = {line[len("called "):].strip() for line in run.stdout.splitlines()
                  if line.startswith("called ")}
        if run.returncode != 0:
            failures.append(f"{surface}: tour exited {run.returncode}\n{run.stdout}{run.stderr}")
        for name, operation in sorted(listed.items()):
            if name not in called:
                failures.append(f"{surface}: '{name}' ({operation}) is in the table but its "
                                "tour did not call it")
        for name in sorted(called - listed.keys()):
            failures.append(f"{surface}: the tour called '{name}', which the table does not list")
        print(f"{surface}: {len(called & listed.keys())} of {len(listed)} cells called")

    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
