#!/bin/sh
# The folders of src/ are layers, from the bottom: os, shm, persist, engine and redis (the two
# engines' layer), api (docs/design.md opens with the diagram). A file may include its own layer's headers and those of the layers
# below it, always as "layer/file.hpp", plus the public headers "shmkv/...". This fails on any
# other include: a lower layer reaching up, or a header outside the layers.
set -eu
src=${1:?usage: layering_test.sh SOURCE_DIR}/src
rank() {
  case $1 in os) echo 0 ;; shm) echo 1 ;; persist) echo 2 ;; engine | redis) echo 3 ;; api) echo 4 ;; *) echo -1 ;; esac
}
bad=0
checked=0
for dir in "$src"/*/; do
  layer=$(basename "$dir")
  own=$(rank "$layer")
  if [ "$own" -lt 0 ]; then echo "src/$layer/ is not a layer"; bad=1; continue; fi
  for file in "$dir"*; do
    for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file"); do
      checked=$((checked + 1))
      case $inc in shmkv/*) continue ;; esac
      target=$(rank "${inc%%/*}")
      if [ "$target" -lt 0 ] || [ "$inc" = "${inc#*/}" ]; then
        echo "src/$layer/$(basename "$file") includes \"$inc\", which is not layer/file"
        bad=1
      elif [ "$target" -gt "$own" ]; then
        echo "src/$layer/$(basename "$file") ($layer) includes \"$inc\" from a higher layer"
        bad=1
      fi
    done
  done
done
[ -z "$(find "$src" -maxdepth 1 -type f)" ] || { echo "files directly in src/: $(find "$src" -maxdepth 1 -type f)"; bad=1; }
[ "$bad" -eq 0 ] && echo "$checked includes checked: every one goes to its own layer or a lower one"
exit "$bad"
