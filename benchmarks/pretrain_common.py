"""Shared pieces of the pretraining experiments: offline English corpora, linear probes, CLI runs, plots.

Corpora are built from the read-only data in ../shared/data into build/pretrain/corpora/ (BEIR
jsonl, never into the repository):

* ``news.jsonl``: AG News test (title + description, 7,600 articles) and CoNLL-2003 (Reuters, all
  three files, one document per ``-DOCSTART-`` article, detokenised): real multi-sentence documents.
* ``general.jsonl``: news + the STS Benchmark sentences (train/dev/test, de-duplicated) and the
  SemEval-2010 Task 8 sentences (entity markers removed), in groups of 10 consecutive sentences.
* SciFact abstracts are used straight from ../shared/data/scifact/corpus.jsonl.

The probe sets, SST-2 and TREC-6, are never part of any pretraining corpus.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ENCODERKIT_SHARED_DATA", REPO.parent / "shared" / "data"))
WORK = REPO / "build" / "pretrain"


# ---------------------------------------------------------------------------- corpora
def _clean_ag(s: str) -> str:
    s = s.replace("\\", " ")
    s = re.sub(r"#(\d+);", r"&#\1;", s)
    s = re.sub(r"&lt;.*?&gt;", " ", html.unescape(html.unescape(s)))
    s = re.sub(r"<[^>]+>", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def ag_news(root: Path) -> list[dict]:
    docs = []
    with open(root / "ag_news" / "test.csv", newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f)):
            title, desc = _clean_ag(row[1]), _clean_ag(row[2])
            if desc:
                docs.append({"_id": f"ag{i}", "title": title, "text": desc})
    return docs


_DETOK = [
    (re.compile(r" ([.,;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r" (n't|'s|'re|'ve|'m|'ll|'d)\b", re.I), r"\1"),
    (re.compile(r'" (.*?) "'), r'"\1"'),
]


def detokenize(tokens: list[str]) -> str:
    s = " ".join(tokens)
    for pat, rep in _DETOK:
        s = pat.sub(rep, s)
    return s


def conll_docs(root: Path) -> list[dict]:
    docs = []
    for name in ("eng.train", "eng.testa", "eng.testb"):
        sents, cur, n = [], [], 0

        def flush_doc(name=name):
            nonlocal sents, n
            if sents:
                docs.append({"_id": f"conll-{name}-{n}", "title": "", "text": " ".join(sents)})
                n += 1
            sents = []

        for line in open(root / "conll2003" / name, encoding="utf-8"):
            line = line.strip()
            if line.startswith("-DOCSTART-"):
                flush_doc()
                continue
            if not line:
                if cur:
                    sents.append(detokenize(cur))
                    cur = []
                continue
            cur.append(line.split(" ")[0])
        if cur:
            sents.append(detokenize(cur))
        flush_doc()
    return docs


def sts_sentences(root: Path) -> list[str]:
    seen, out = set(), []
    for split in ("train", "dev", "test"):
        for line in open(root / "stsbenchmark" / f"sts-{split}.csv", encoding="utf-8"):
            cols = line.rstrip("\n").split("\t")
            for s in cols[5:7]:
                s = s.strip()
                if s and s.lower() not in seen:
                    seen.add(s.lower())
                    out.append(s)
    return out


def semeval_sentences(root: Path) -> list[str]:
    out = []
    for name in ("TRAIN_FILE.TXT", "TEST_FILE_FULL.TXT"):
        for line in open(root / "semeval2010_task8" / name, encoding="utf-8"):
            m = re.match(r'^\d+\t"(.*)"\s*$', line)
            if m:
                out.append(re.sub(r"</?e[12]>", "", m.group(1)))
    return out


def grouped(prefix: str, sentences: list[str], size: int = 10) -> list[dict]:
    return [
        {"_id": f"{prefix}{i // size}", "title": "", "text": " ".join(sentences[i : i + size])}
        for i in range(0, len(sentences), size)
    ]


def build_corpora(root: Path = DATA, out: Path = WORK / "corpora") -> dict[str, Path]:
    """Write news.jsonl and general.jsonl (deterministic); returns their paths (and scifact's)."""
    out.mkdir(parents=True, exist_ok=True)
    news = ag_news(root) + conll_docs(root)
    general = news + grouped("sts", sts_sentences(root)) + grouped("semeval", semeval_sentences(root))
    paths = {}
    for name, docs in (("news", news), ("general", general)):
        p = out / f"{name}.jsonl"
        body = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
        if not p.is_file() or p.read_text(encoding="utf-8") != body:
            p.write_text(body, encoding="utf-8")
        paths[name] = p
    paths["scifact"] = root / "scifact" / "corpus.jsonl"
    return paths


# ---------------------------------------------------------------------------- probes
def sst2(root: Path = DATA) -> dict[str, tuple[list[str], np.ndarray]]:
    out = {}
    for split in ("train", "dev", "test"):
        texts, labels = [], []
        for line in open(root / "sst2" / f"stsa.binary.{split}", encoding="utf-8"):
            if line.strip():
                labels.append(int(line[0]))
                texts.append(line[2:].strip())
        out[split] = (texts, np.array(labels))
    return out


def trec6(root: Path = DATA) -> dict[str, tuple[list[str], np.ndarray]]:
    out = {}
    for split in ("train", "test"):
        texts, labels = [], []
        for line in open(root / "trec_qc" / f"TREC.{split}", encoding="latin-1"):
            if line.strip():
                lab, text = line.split(" ", 1)
                labels.append(lab.split(":")[0])
                texts.append(text.strip())
        out[split] = (texts, np.array(labels))
    return out


def probe(model_dir: Path, tasks: dict[str, dict], *, seed: int = 0) -> dict[str, float]:
    """Linear probe: logistic regression (scikit-learn, C=1, standardised features) on frozen mean-pooled
    vectors; trained on the task's train split, accuracy on its test split. No tuning on test."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from encoderkit import Encoder

    enc = Encoder.load(model_dir, pooling="mean")
    res = {}
    for name, splits in tasks.items():
        xtr = enc.encode(splits["train"][0], normalize=False, batch_size=128, max_length=128)
        xte = enc.encode(splits["test"][0], normalize=False, batch_size=128, max_length=128)
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000, random_state=seed))
        clf.fit(xtr, splits["train"][1])
        res[name] = float((clf.predict(xte) == splits["test"][1]).mean())
    return res


def probe_tasks(root: Path = DATA) -> dict[str, dict]:
    s, t = sst2(root), trec6(root)
    return {"sst2": {"train": s["train"], "test": s["test"]}, "trec6": {"train": t["train"], "test": t["test"]}}


# ---------------------------------------------------------------------------- running
def encoderkit(args: list, *, log_file: Path | None = None) -> tuple[float, str]:
    """Run ``python -m encoderkit ARGS`` in a child (inherits our niceness); returns (wall s, stdout)."""
    cmd = [sys.executable, "-m", "encoderkit", *[str(a) for a in args]]
    print("$ encoderkit " + " ".join(str(a) for a in args), flush=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "ENCODERKIT_QUIET": "1"})
    wall = time.perf_counter() - t
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"encoderkit {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def read_log(out_dir: Path) -> dict:
    return json.loads((Path(out_dir) / "train_log.json").read_text())


def mean_sd(xs) -> str:
    xs = np.asarray(xs, dtype=float)
    if len(xs) == 1:
        return f"{xs[0]:.4f}"
    return f"{xs.mean():.4f} ± {xs.std(ddof=1):.4f}"


def write_outputs(name: str, payload: dict, markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)
