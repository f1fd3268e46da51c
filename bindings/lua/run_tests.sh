#!/bin/sh
# Runs the LuaJIT module's tests. Environment (set by ctest): SHMKV_LIBRARY (libshmkv.so),
# SHMKV_LUA_DIR (bindings/lua).
here=$(dirname "$0")
if ! command -v luajit >/dev/null 2>&1; then
  echo "lua_bindings: luajit not found; install the Debian package luajit (apt-get install luajit)" >&2
  exit 1
fi
LUA_PATH="${SHMKV_LUA_DIR:-$here}/?.lua;;"
export LUA_PATH
exec luajit "$here/test_shmkv.lua"
