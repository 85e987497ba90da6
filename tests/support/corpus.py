"""Small synthetic corpora and fakes shared by several test folders."""

from __future__ import annotations

import numpy as np

WORDS = (
    "river mountain forest ocean desert glacier volcano island valley canyon storm rain snow wind sun moon "
    "star planet comet galaxy cell protein gene virus immune brain heart blood bone muscle the of and"
).split()


QUERIES = ["river mountain", "virus immune cell", "storm rain wind", "galaxy star planet comet", "the heart"]


def make_docs(n: int, seed: int, prefix: str = "d") -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "id": f"{prefix}{i:03d}",
            "title": " ".join(rng.choice(WORDS, 2)),
            "text": " ".join(rng.choice(WORDS, int(rng.integers(8, 70)))),
        }
        for i in range(n)
    ]


TOPICS = [
    "The river",
    "A small cat",
    "The committee",
    "Every protein",
    "The old library",
    "My neighbour",
    "The telescope",
    "This vaccine",
    "The orchestra",
    "A tired student",
]


VERBS = ["watched", "changed", "described", "ignored", "measured", "celebrated", "repaired", "questioned"]


OBJECTS = [
    "the quiet harbour",
    "several unusual results",
    "a broken window",
    "the morning light",
    "new evidence",
    "the whole city",
    "an ancient map",
    "the final chapter",
]


def english_docs(n_docs: int = 30, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n_docs):
        sents = [
            f"{TOPICS[rng.integers(10)]} {VERBS[rng.integers(8)]} {OBJECTS[rng.integers(8)]}."
            for _ in range(int(rng.integers(2, 9)))
        ]
        docs.append(" ".join(sents))
    return docs


class KeywordClassifier:
    """A fake classifier with the Classifier interface: 'pos' if a positive word is present."""

    def __init__(self, words=("good", "great", "fine")):
        self.words = words

    def predict(self, texts, top_k=None):
        out = []
        for t in texts:
            p = 0.9 if any(w in t.lower().split() for w in self.words) else 0.1
            out.append(sorted([{"label": "pos", "score": p}, {"label": "neg", "score": 1 - p}], key=lambda x: -x["score"]))
        return out


SENTIMENT = [
    ("a good film", "pos"),
    ("great acting", "pos"),
    ("a fine cast", "pos"),
    ("dull plot", "neg"),
    ("boring and slow", "neg"),
    ("bad", "neg"),
]
