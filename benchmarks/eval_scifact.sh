#!/usr/bin/env bash
# Issue 3 figures: SciFact retrieval (chunked default and whole-document MTEB protocol), STS-B, geometry.
#   bash benchmarks/eval_scifact.sh [DATA_ROOT]     (DATA_ROOT defaults to ../shared/data)
# Indexes go to build/ (reused when up to date); results to benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
PY=${PY:-.venv/bin/python}
R=benchmarks/results
ek() { "$PY" -m encoderkit "$@"; }
ek eval retrieval "$DATA/scifact" --out $R/eval-scifact --index build/bench-scifact -q
ek eval retrieval "$DATA/scifact" --out $R/eval-scifact-wholedoc --index build/bench-scifact-whole --chunk-size 0 -q
ek eval sts "$DATA/stsbenchmark" --out $R/sts-b
ek eval sts "$DATA/stsbenchmark" --pooling cls --out $R/sts-b-cls
ek eval geometry "$DATA/stsbenchmark" --out $R/geometry
