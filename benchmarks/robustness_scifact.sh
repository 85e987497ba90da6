#!/usr/bin/env bash
# Issue 16: robustness of SciFact retrieval (test queries) to typos, character drops, casing, word order,
# abbreviation swaps (mined from the corpus), rare terms, and truncation vs chunking; three seeds.
#   bash benchmarks/robustness_scifact.sh [DATA_ROOT] [PIPELINES...]
# Reuses the index of the bundled model that benchmarks/tradeoff_scifact.py builds (or builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
shift || true
PIPES=${*:-bm25 dense hybrid}
PY=${PY:-.venv/bin/python}
args=()
for p in $PIPES; do args+=(-p "$p"); done
"$PY" -m encoderkit eval robustness "$DATA/scifact" "${args[@]}" \
  --index build/tradeoff-indexes/default_torch --out benchmarks/results/robustness-scifact \
  --perturbations typo:1,2,3 --perturbations drop:1,2,3 --perturbations case:lower,upper,random \
  --perturbations shuffle:2,4,all --perturbations synonym:1,all --perturbations rare --perturbations truncation \
  --seed 0 --seed 1 --seed 2 -q
