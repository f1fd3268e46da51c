#!/bin/sh
# The README's list of error codes is the table of include/shmkv/error_codes.h, in order (the
# C++, C, CLI and Lua names are generated from that table; Python's are checked by its tests).
set -eu
root=${1:?usage: error_table_test.sh SOURCE_DIR}
table=$(sed -n 's/^ *X(\([a-z_]*\), [A-Z_]*, [0-9]*,.*/\1/p' "$root/include/shmkv/error_codes.h" | tr '\n' ' ')
readme=$(tr '\n' ' ' < "$root/README.md" | sed -n 's/.*`shmkv::Error` with a code (\([^)]*\)).*/\1/p' |
  tr -d '`,' | tr -s ' ' | sed 's/^ //; s/ $//')
[ -n "$table" ] || { echo "no codes found in error_codes.h"; exit 1; }
if [ "$readme " != "$table" ]; then
  echo "README.md lists:      $readme"
  echo "error_codes.h lists:  $table"
  exit 1
fi
echo "README.md lists the $(echo $table | wc -w) codes of error_codes.h"
