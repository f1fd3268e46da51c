#!/bin/sh
# libshmkv.so exports the public API (shmkv::Store, shmkv::Error, the C functions, ...) and
# nothing of shmkv::detail: the library is compiled with hidden visibility (export.h).
set -eu
lib=${1:?usage: exports_test.sh LIBSHMKV_SO}
symbols=$(nm -D --defined-only "$lib" | c++filt)
# A symbol of shmkv::detail itself (a type of it may appear in a public member's signature).
pattern=' [A-Za-z] (typeinfo for |typeinfo name for |vtable for )?shmkv::detail::'
internal=$(printf '%s\n' "$symbols" | grep -cE "$pattern" || true)
for want in 'shmkv::Store::open' 'shmkv::Store::get' 'shmkv::errc_name' 'typeinfo for shmkv::Error' ' shmkv_open' ' shmkv_errname'; do
  printf '%s\n' "$symbols" | grep -q -- "$want" || { echo "libshmkv.so does not export $want"; exit 1; }
done
if [ "$internal" -ne 0 ]; then
  echo "libshmkv.so exports $internal shmkv::detail symbols, e.g.:"
  printf '%s\n' "$symbols" | grep -E "$pattern" | head -5
  exit 1
fi
echo "libshmkv.so: $(printf '%s\n' "$symbols" | grep -c ' [TWVuiR] ') exported symbols, none internal"
