#!/usr/bin/env bash
# Every classification / clustering / dedup figure of docs/classification.md, one after the other
# (about an hour on 2 idle cores with MiniLM; MAX_MINUTES caps each fine-tune's training time on a
# busy machine). Run from the repository root:
#   PYTHONPATH=src /work/bin/heavy bash benchmarks/classify_all.sh
set -uo pipefail
PY=${PY:-python}
BUDGET=${MAX_MINUTES:+--max-minutes $MAX_MINUTES}
export ENCODERKIT_QUIET=1
$PY benchmarks/classify_agnews.py || echo "FAILED: classify_agnews"
$PY benchmarks/classify_sst2.py $BUDGET || echo "FAILED: classify_sst2"
$PY benchmarks/classify_throughput.py --model runs/bench/classify-sst2-finetune || echo "FAILED: classify_throughput"
$PY benchmarks/classify_trec.py $BUDGET || echo "FAILED: classify_trec"
$PY benchmarks/cluster_agnews.py || echo "FAILED: cluster_agnews"
$PY benchmarks/dedup_injected.py || echo "FAILED: dedup_injected"
$PY benchmarks/classify_lora.py --reuse-full runs/bench/classify-sst2-finetune $BUDGET || echo "FAILED: classify_lora"
