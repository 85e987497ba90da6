#!/usr/bin/env bash
# Issue 16: robustness of SST-2 sentiment classifiers (test split, 1,821 sentences) to keyboard typos,
# character drops, casing and word-order shuffles, three seeds. Two classifiers of the bundled MiniLM:
# the full fine-tune and the linear probe trained before it (frozen encoder), both made by
#   python benchmarks/classify_sst2.py --runs RUNS        (RUNS/classify-sst2-finetune[/probe])
#   [LIMIT=N] bash benchmarks/robustness_sst2.sh [DATA_ROOT] [RUNS]   (LIMIT: the first N test sentences)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
RUNS=${2:-runs/bench}
PY=${PY:-.venv/bin/python}
"$PY" -m encoderkit eval robustness "$DATA/sst2/stsa.binary.test" --task classify \
  -m "$RUNS/classify-sst2-finetune" -m "$RUNS/classify-sst2-finetune/probe" \
  --out benchmarks/results/robustness-sst2 \
  --perturbations typo:1,2,3 --perturbations drop:1,2,3 --perturbations case:lower,upper,random \
  --perturbations shuffle:2,4,all --seed 0 --seed 1 --seed 2 -q ${LIMIT:+--queries $LIMIT}
