"""Tagger and span-pair heads on tiny random backbones: alignment, windows, offsets, save/load, ONNX."""

from __future__ import annotations

import random

import numpy as np
import pytest

from conftest import make_tiny_model
from encoderkit.data.corpora.conll import TaggedDoc, entity_spans
from encoderkit.data.words import words
from encoderkit.models.backbone import Backbone
from encoderkit.models.heads.span_pair import SpanPairClassifier, add_markers, crop, insert_markers
from encoderkit.models.heads.tagger import Tagger, encode_words
from encoderkit.models.heads.windows import owned_ranges, plan_windows
from encoderkit.models.ref import resolve_model
from encoderkit.training.loop import TrainConfig

TEXTS = ["Angela Merkel met  Emmanuel Macron in Paris.\nThen Ösel’s café closed.", "No entities here at all", ""]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("xm") / "tiny")


def _docs() -> list[TaggedDoc]:
    rng = random.Random(0)
    names = ["Merkel", "Paris", "Acme", "Berlin", "Smith"]
    docs = []
    for _ in range(12):
        ws, ts = [], []
        for _ in range(30):
            if rng.random() < 0.2:
                n = rng.choice(names)
                ws.append(n)
                ts.append("B-" + ("PER" if n in ("Merkel", "Smith") else "LOC" if n in ("Paris", "Berlin") else "ORG"))
            else:
                ws.append(rng.choice(["the", "met", "in", "and", "said", "."]))
                ts.append("O")
        docs.append(TaggedDoc(ws, ts, [0, 15]))
    return docs


@pytest.fixture(scope="module")
def tiny_tagger_dir(tiny_dir, tmp_path_factory):
    from encoderkit.training.tagging import train_tagger

    out = tmp_path_factory.mktemp("xm") / "ner"
    docs = _docs()
    train_tagger(
        docs[:10],
        docs[10:],
        out,
        model=str(tiny_dir),
        max_length=32,
        stride=8,
        train_config=TrainConfig(max_steps=6, batch_size=4, lr=1e-3),
        show_progress=False,
    )
    return out


@pytest.fixture(scope="module")
def tiny_relation_dir(tiny_dir, tmp_path_factory):
    from encoderkit.training.relations import SpanItem, train_span_pair

    out = tmp_path_factory.mktemp("xm") / "re"
    items = [
        SpanItem(("Smoke came from the fire.", (0, 5), (20, 24)), {"relation": "Cause-Effect(e2,e1)"}),
        SpanItem(("The cup is in the box.", (4, 7), (18, 21)), {"relation": "Content-Container(e1,e2)"}),
        SpanItem(("A cat and a dog.", (2, 5), (12, 15)), {"relation": "Other"}),
    ] * 4
    labels = ["Other", "Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)", "Content-Container(e1,e2)"]
    train_span_pair(
        items,
        items[:3],
        out,
        heads={"relation": labels},
        n_args=2,
        task="relations",
        model=str(tiny_dir),
        max_length=64,
        train_config=TrainConfig(max_steps=4, batch_size=4, lr=1e-3),
        show_progress=False,
    )
    return out


# ---------------------------------------------------------------------------- windows and alignment
def test_windows_never_drop_or_double_count():
    rng = random.Random(1)
    for _ in range(500):
        size = rng.randint(1, 40)
        stride = rng.randint(0, size - 1)
        n = rng.randint(0, 300)
        wins = plan_windows(n, size, stride)
        owned = owned_ranges(wins, n)
        counts = np.zeros(n, dtype=int)
        for (s, e), (lo, hi) in zip(wins, owned):
            assert e - s <= size and s <= lo <= hi <= e
            counts[lo:hi] += 1
        assert (counts == 1).all()
        covered = np.zeros(n, dtype=int)
        for s, e in wins:
            covered[s:e] = 1
        assert covered.all()
        for (_, e1), (s2, _) in zip(wins, wins[1:]):
            assert e1 - s2 >= stride  # consecutive windows share at least `stride` tokens


def test_label_alignment_round_trip(tiny_dir):
    tok = Backbone.load(resolve_model(tiny_dir)).raw_tokenizer()
    doc = ["Angela", "Merkel-Schmidt", "visited", "Zürich", "’s", "unbelievably", "x"]
    tags = ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "B-MISC"]
    (enc,) = encode_words(tok, [doc])
    labels = np.full(len(enc.ids), -1)
    has = enc.first >= 0
    labels[enc.first[has]] = [i for i, h in enumerate(has) if h]  # word label -> its first sub-token
    assert (enc.first >= 0).all()  # every word has a first sub-token
    back = [tags[labels[enc.first[w]]] for w in range(len(doc))]  # sub-token -> word
    assert back == tags
    assert (labels >= 0).sum() == len(doc)  # only first sub-tokens carry labels
    assert all(enc.word_of[enc.first[w]] == w for w in range(len(doc)))


def test_every_word_scored_by_exactly_one_window(tiny_tagger_dir):
    tagger = Tagger.load(tiny_tagger_dir)
    calls = []
    real = tagger.run

    def spy(feats):
        calls.append(feats["input_ids"].shape)
        return real(feats)

    tagger.run = spy
    doc = [w for w, _ in words(" ".join(["Merkel visited Paris and Berlin with Acme unbelievably"] * 40))]
    (em,) = tagger.emissions([doc], batch_size=4)
    assert len(calls) > 5 and max(s[1] for s in calls) <= tagger.max_length  # long text read in windows
    assert em.shape == (len(doc), len(tagger.labels)) and not (em == 0).all(axis=1).any()


# ---------------------------------------------------------------------------- offsets, long documents, save/load
def test_offsets_map_to_exact_substrings(tiny_tagger_dir):
    tagger = Tagger.load(tiny_tagger_dir)
    ents = tagger.extract(
        TEXTS + ["Zürich’s  naïve\tcafé —\n\nNew\u00a0York   (U.S.) e\u0301t\u00e9 🙂 Merkel"], min_confidence=0.0
    )
    texts = TEXTS + ["Zürich’s  naïve\tcafé —\n\nNew\u00a0York   (U.S.) e\u0301t\u00e9 🙂 Merkel"]
    assert len(ents) == len(texts) and ents[2] == []
    for text, es in zip(texts, ents):
        for e in es:
            assert text[e["start"] : e["end"]] == e["text"] and 0 <= e["confidence"] <= 1


def test_long_document_50k_words(tiny_tagger_dir):
    tagger = Tagger.load(tiny_tagger_dir)
    rng = random.Random(0)
    vocab = ["Merkel", "met", "Paris", "in", "the", "Acme", "said", ".", "Berlin", "and", "Zürich"]
    text = " ".join(rng.choice(vocab) + ("\n" if rng.random() < 0.05 else "") for _ in range(50_000))
    (ents,) = tagger.extract([text], batch_size=64)
    assert len(words(text)) == 50_000
    assert all(text[e["start"] : e["end"]] == e["text"] for e in ents)
    assert ents and ents[-1]["end"] > len(text) * 0.9  # the end of the document was read too


def test_save_load_identical_predictions(tiny_tagger_dir, tiny_relation_dir):
    from encoderkit.models.card import load_head_tensors
    from encoderkit.models.heads.torch_modules import TaggerModule

    a = Tagger.load(tiny_tagger_dir).extract(TEXTS)
    b = Tagger.load(tiny_tagger_dir).extract(TEXTS)
    assert a == b
    # the loaded module holds exactly the saved tensors
    card = Tagger.load(tiny_tagger_dir).card
    body = Backbone.load(resolve_model(tiny_tagger_dir)).torch_module
    m = TaggerModule(body, len(card["labels"]), case_features=True, crf=False)
    missing, unexpected = m.load_state_dict(load_head_tensors(tiny_tagger_dir), strict=False)
    assert not unexpected and all(k.startswith("encoder.") for k in missing)
    items = [("Smoke came from the fire.", (0, 5), (20, 24)), ("The cup is in the box.", (4, 7), (18, 21))]
    p1 = SpanPairClassifier.load(tiny_relation_dir).probabilities(items)
    p2 = SpanPairClassifier.load(tiny_relation_dir).probabilities(items)
    assert all(np.array_equal(x["relation"], y["relation"]) for x, y in zip(p1, p2))


def test_onnx_export_matches_torch(tiny_tagger_dir, tiny_relation_dir):
    from encoderkit.models.export import export_onnx

    export_onnx(tiny_tagger_dir)
    t, o = Tagger.load(tiny_tagger_dir), Tagger.load(tiny_tagger_dir, backend="onnx")
    et, eo = t.emissions([[w for w, _ in words(x)] for x in TEXTS]), o.emissions([[w for w, _ in words(x)] for x in TEXTS])
    assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(et, eo))
    export_onnx(tiny_relation_dir, quantize="int8")
    q = SpanPairClassifier.load(tiny_relation_dir, backend="onnx-int8")
    assert q.predict([("Smoke came from the fire.", (0, 5), (20, 24))])[0]["relation"][0] in q.heads["relation"]
    with pytest.raises(Exception, match="export onnx"):
        Tagger.load(tiny_tagger_dir, backend="onnx-int8")


def test_crf_decoding_is_valid_bio(tiny_dir, tmp_path):
    from encoderkit.training.tagging import train_tagger

    docs = _docs()
    train_tagger(
        docs[:6],
        docs[6:8],
        tmp_path / "crf",
        model=str(tiny_dir),
        crf=True,
        max_length=32,
        stride=8,
        train_config=TrainConfig(max_steps=3, batch_size=4, lr=1e-3),
        show_progress=False,
    )
    tagger = Tagger.load(tmp_path / "crf")
    assert tagger.crf is not None
    for tags, conf in tagger.predict_words([d.words for d in docs]):
        for prev, cur in zip(["O", *tags], tags):
            if cur.startswith("I-"):
                assert prev[2:] == cur[2:] and prev != "O"
        assert ((conf >= 0) & (conf <= 1 + 1e-6)).all()
    assert entity_spans(["B-PER", "I-PER"]) == [("PER", 0, 2)]


# ---------------------------------------------------------------------------- markers
def test_marker_insertion_keeps_offsets():
    rng = random.Random(3)
    text = "Ünïcode  text with\nnewlines and  spaces, commas; and more words here."
    for _ in range(300):
        a, b, c, d = sorted(rng.sample(range(len(text) + 1), 4))
        if a == b or c == d:
            continue
        marked, e1, e2 = insert_markers(text, (a, b), (c, d))
        assert marked[e1[0] : e1[1]] == text[a:b] and marked[e2[0] : e2[1]] == text[c:d]
        assert marked.replace("[E1] ", "", 1).replace(" [/E1]", "", 1).replace("[E2] ", "", 1).replace(" [/E2]", "", 1) == text
    marked, e1, none = insert_markers(text, (0, 7))
    assert marked.startswith("[E1] Ünïcode [/E1]") and none is None and marked[e1[0] : e1[1]] == "Ünïcode"
    with pytest.raises(ValueError):
        insert_markers(text, (5, 10), (7, 12))


def test_markers_are_single_tokens_and_crop(tiny_dir):
    tok = Backbone.load(resolve_model(tiny_dir)).raw_tokenizer()
    ids = add_markers(tok)
    enc = tok.encode("[E1] Smoke [/E1] from [E2] fire [/E2]", add_special_tokens=False)
    assert [i for i in enc.ids if i in ids] == ids
    assert crop(1000, 500, 510, 100) == (456, 556) and crop(50, 0, 49, 100) == (0, 50) and crop(300, 10, 250, 100) is None


def test_relation_pair_too_long_is_reported_not_cut(tiny_relation_dir):
    clf = SpanPairClassifier.load(tiny_relation_dir)
    far = "Smoke " + "filler words " * 200 + "fire."
    near = "Smoke " + "filler words " * 200 + "fire came from smoke."
    (p,) = clf.predict([(far, (0, 5), (len(far) - 5, len(far) - 1))])
    assert p is None  # the two arguments do not fit in one window: reported, never silently truncated
    (q,) = clf.predict([(near, (len(near) - 21, len(near) - 17), (len(near) - 6, len(near) - 1))])
    assert q is not None  # a long text is cropped around the arguments


def test_extractor_api_on_each_model_kind(tiny_tagger_dir, tiny_relation_dir):
    from encoderkit.errors import EncoderkitError
    from encoderkit.tasks.extract import Extractor

    ner = Extractor.load(tiny_tagger_dir)
    info = ner.describe()
    assert info["kind"] == "ner" and info["provides"] == {"entities": True, "relations": False, "frames": False}
    assert info["entity_types"] == ["LOC", "ORG", "PER"] and info["components"]["ner"]["fingerprint"]
    (rec,) = ner.extract(["Merkel met Smith in Paris."])
    assert set(rec) == {"entities", "relations", "frames"} and rec["relations"] == [] and rec["frames"] == []
    for e in rec["entities"]:
        assert set(e) == {"type", "text", "start", "end", "confidence", "sentence"}
    rel = Extractor.load(tiny_relation_dir)
    assert rel.describe()["relation_types"] == ["Cause-Effect", "Content-Container"]
    with pytest.raises(EncoderkitError, match="entity spans"):
        rel.extract(["Smoke came from the fire."])
    (rec,) = rel.extract(["Smoke came from the fire."], entities=[[{"start": 20, "end": 24}, {"start": 0, "end": 5}]])
    for r in rec["relations"]:
        assert {r["head"]["text"], r["tail"]["text"]} == {"Smoke", "fire"} and r["evidence"][
            "text"
        ] == "Smoke came from the fire."
    with pytest.raises(EncoderkitError, match="min_confidence"):
        ner.extract(["x"], min_confidence=2.0)
    both = Extractor.compose(ner=tiny_tagger_dir, relations=tiny_relation_dir)
    assert both.describe()["provides"]["relations"] and len(both.extract(["Merkel met Smith.", ""])) == 2
