#!/bin/sh
# Runs the Python binding's pytest suite with the given interpreter (default /usr/bin/python3).
# Environment (set by ctest): SHMKV_LIBRARY (path of libshmkv.so), PYTHONPATH (bindings/python).
python=${1:-/usr/bin/python3}
here=$(dirname "$0")
if ! command -v "$python" >/dev/null 2>&1; then
  echo "python_bindings: $python not found; install the Debian package python3" >&2
  exit 1
fi
if ! "$python" -c "import pytest" 2>/dev/null; then
  echo "python_bindings: pytest is not importable by $python;" \
       "install the Debian package python3-pytest (apt-get install python3-pytest)" >&2
  exit 1
fi
exec "$python" -m pytest -q -p no:cacheprovider "$here/tests"
