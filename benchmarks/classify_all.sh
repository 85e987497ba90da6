#!/usr/bin/env bash
# Every classification / clustering / dedup figure of docs/classification.md, one after the other
# (about an hour on 2 cores with MiniLM). Run from the repository root:
#   PYTHONPATH=src /work/bin/heavy bash benchmarks/classify_all.sh
set -uo pipefail
PY=${PY:-python}
export ENCODERKIT_QUIET=1
$PY benchmarks/classify_agnews.py || echo "FAILED: benchmarks/classify_agnews.py"
$PY benchmarks/cluster_agnews.py || echo "FAILED: benchmarks/cluster_agnews.py"
$PY benchmarks/dedup_injected.py || echo "FAILED: benchmarks/dedup_injected.py"
$PY benchmarks/classify_trec.py || echo "FAILED: benchmarks/classify_trec.py"
$PY benchmarks/classify_sst2.py || echo "FAILED: benchmarks/classify_sst2.py"
$PY benchmarks/classify_throughput.py --model runs/bench/classify-sst2-finetune || echo "FAILED: benchmarks/classify_throughput.py"
$PY benchmarks/classify_lora.py --reuse-full runs/bench/classify-sst2-finetune || echo "FAILED: benchmarks/classify_lora.py"
