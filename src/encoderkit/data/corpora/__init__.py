"""Benchmark and training corpora in their published formats: BEIR (:mod:`.beir`), STS (:mod:`.sts`),
CoNLL (:mod:`.conll`), SemEval-2010 Task 8 (:mod:`.semeval`), training pairs (:mod:`.pairs`),
labelled text for classification (:mod:`.labelled`, line formats in :mod:`.label_formats`), JSONL
extraction annotations (:mod:`.annotations`) and unlabelled text for distillation (:mod:`.texts`).
Every bad record is an error naming file:line."""
