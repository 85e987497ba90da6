#!/usr/bin/env bash
# Rerun the extraction figures (issue 11) on a 2-core CPU: train the taggers and the relation model
# (two 1-thread trainings at a time), then evaluate, time the backends and run the end-to-end schema.
# Run it under /work/bin/heavy (or alone on the machine). Models go to runs/, figures to
# benchmarks/results/{ner-conll2003,ner-speed,relations-semeval,extract-e2e}/.
#   bash benchmarks/extract_all.sh [phase...]   phases: ner re report (default), mpnet mpnet-ablation (MPNET=folder)
set -u
cd "$(dirname "$0")/.."
PY=${PY:-/work/main/.venv/bin/python}
export PYTHONPATH=src
CONLL=${CONLL:-../shared/data/conll2003}
SEMEVAL=${SEMEVAL:-../shared/data/semeval2010_task8}
NER_ARGS="--data $CONLL --epochs ${NER_EPOCHS:-3} --batch-size 8 --lr 1e-4 --bf16 --max-minutes ${NER_MINUTES:-30} -q"
RE_ARGS="--data $SEMEVAL --epochs ${RE_EPOCHS:-5} --batch-size 16 --lr 8e-5 --bf16 --max-minutes ${RE_MINUTES:-40} -q"
mkdir -p runs/logs
phases=${*:-ner re report}
t() { ENCODERKIT_THREADS=1 $PY benchmarks/extract_train.py "$@"; }
for phase in $phases; do
  case $phase in
    ner)  # MiniLM with and without the casing feature, side by side (one core each)
      t train ner $NER_ARGS --out runs/ner-minilm-case > runs/logs/ner-minilm-case.log 2>&1 &
      t train ner $NER_ARGS --no-case-features --out runs/ner-minilm-nocase > runs/logs/ner-minilm-nocase.log 2>&1 &
      wait ;;
    re)   # the relation model beside the CRF variant of the tagger
      t train relations $RE_ARGS --out runs/re-minilm > runs/logs/re-minilm.log 2>&1 &
      t train ner $NER_ARGS --crf --out runs/ner-minilm-case-crf > runs/logs/ner-minilm-case-crf.log 2>&1 &
      wait ;;
    mpnet)  # all-mpnet-base-v2 (MPNET=model folder, benchmarks/fetch_mpnet.sh): the tagger with the casing feature
      # (~9 s a step at one thread, 3x MiniLM: 3 epochs in ~85 min of training + 4 dev evaluations of ~4 min)
      # beside the relation model (~3.5 s a step: 2 epochs in ~50 min)
      t train ner $NER_ARGS --epochs ${MPNET_EPOCHS:-3} --max-minutes ${MPNET_MINUTES:-95} --model "$MPNET" --out runs/ner-mpnet-case > runs/logs/ner-mpnet-case.log 2>&1 &
      t train relations $RE_ARGS --epochs ${MPNET_RE_EPOCHS:-2} --lr 5e-5 --max-minutes ${MPNET_RE_MINUTES:-58} --model "$MPNET" --out runs/re-mpnet > runs/logs/re-mpnet.log 2>&1 &
      wait ;;
    mpnet-ablation)  # the casing ablation on mpnet at equal budget: both variants side by side, 1.3 epochs / 40 min
      t train ner $NER_ARGS --epochs 1.3 --max-minutes 40 --model "$MPNET" --out runs/ner-mpnet-case-1.3ep > runs/logs/ner-mpnet-case-1.3ep.log 2>&1 &
      t train ner $NER_ARGS --epochs 1.3 --max-minutes 40 --model "$MPNET" --no-case-features --out runs/ner-mpnet-nocase > runs/logs/ner-mpnet-nocase.log 2>&1 &
      wait ;;
    report)
      $PY benchmarks/ner_conll.py > runs/logs/report-ner.log 2>&1
      $PY benchmarks/relations_semeval.py > runs/logs/report-re.log 2>&1
      $PY benchmarks/ner_speed.py > runs/logs/report-speed.log 2>&1
      $PY benchmarks/extract_e2e.py > runs/logs/report-e2e.log 2>&1 ;;
  esac
done
