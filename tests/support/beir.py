"""A tiny BEIR folder of biomedical claims and queries (robustness and trade-off tests)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import write

DOCS = {
    "d1": ("Vitamin D", "Vitamin D deficiency raises the risk of multiple sclerosis (MS) in adults."),
    "d2": ("Sclerosis", "Multiple sclerosis (MS) is an autoimmune disease of the nervous system."),
    "d3": ("Breast cancer", "ALDH1 expression predicts poor prognosis in breast cancer tumors."),
    "d4": ("Zebrafish", "Zebrafish fins regenerate after amputation within two weeks."),
    "d5": ("Malaria", "Malaria parasites resist artemisinin in southeast Asia."),
    "d6": ("Insulin", "Insulin resistance precedes type 2 diabetes by many years."),
    "d7": ("Sleep", "Sleep deprivation impairs memory consolidation in students."),
    "d8": ("Coffee", "Coffee consumption is not linked to heart disease in cohort studies."),
    "d9": ("Aspirin", "Aspirin lowers the risk of colorectal cancer after long use."),
    "d10": ("Obesity", "Obesity in childhood increases adult blood pressure."),
    "d11": ("Antibiotics", "Antibiotics alter the gut microbiome of infants for months."),
    "d12": (
        "Telomeres",
        "Cells divide many times over a lifetime and every division copies the genome. " * 12
        + "Short telomeres are associated with cellular aging and senescence.",  # beyond the tiny model's 128 tokens
    ),
}
QUERIES = {
    "q1": ("vitamin D deficiency and multiple sclerosis risk", ["d1"]),
    "q2": ("ALDH1 predicts breast cancer prognosis", ["d3"]),
    "q3": ("zebrafish fin regeneration", ["d4"]),
    "q4": ("artemisinin resistance of malaria parasites", ["d5"]),
    "q5": ("insulin resistance before type 2 diabetes", ["d6"]),
    "q6": ("aspirin and colorectal cancer risk", ["d9"]),
    "q7": ("telomere length and aging", ["d12"]),
    "q8": ("multiple sclerosis (MS) autoimmune disease", ["d2"]),
}


def write_tiny_beir(root: Path) -> Path:
    """A BEIR folder (corpus, queries, test qrels) of the documents and queries above."""
    write(root / "corpus.jsonl", "".join(json.dumps({"_id": k, "title": t, "text": x}) + "\n" for k, (t, x) in DOCS.items()))
    write(root / "queries.jsonl", "".join(json.dumps({"_id": k, "text": q}) + "\n" for k, (q, _) in QUERIES.items()))
    write(
        root / "qrels" / "test.tsv",
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, (_, ds) in QUERIES.items() for d in ds),
    )
    return root
