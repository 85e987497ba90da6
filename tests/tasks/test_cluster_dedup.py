"""Clustering (k-means, HDBSCAN, c-TF-IDF, representatives, agreement with labels) and de-duplication
(exact, near, which copy is kept), the library and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli, write
from encoderkit.tasks.cluster import agreement, choose_k, cluster_collection, ctfidf_keywords, representatives
from encoderkit.tasks.collection import Collection, load_collection
from encoderkit.tasks.dedup import containment, find_duplicates, normalize_text


def blobs(n_per=30, k=3, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 5
    x = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    gold = [str(i) for i in range(k) for _ in range(n_per)]
    words = [["goal", "match", "striker"], ["vote", "senate", "budget"], ["bake", "flour", "oven"]]
    texts = [f"{' '.join(words[int(g)])} item {i}" for i, g in enumerate(gold)]
    return Collection("blobs", [f"d{i}" for i in range(len(gold))], texts, [f"p{i}" for i in range(len(gold))], gold), x.astype(
        np.float32
    )


def test_kmeans_recovers_separated_clusters_with_keywords(tmp_path):
    docs, x = blobs()
    res = cluster_collection(docs, x, algorithms=("kmeans", "hdbscan"), k=3, out=tmp_path)
    km = res["results"]["kmeans"]
    assert km["agreement_with_labels"]["v_measure"] > 0.95
    top = {tuple(c["keywords"][:3]) for c in km["clusters_detail"]}
    assert {frozenset(t) for t in top} == {
        frozenset(w) for w in (("goal", "match", "striker"), ("vote", "senate", "budget"), ("bake", "flour", "oven"))
    }
    assert all(len(c["representatives"]) == 3 for c in km["clusters_detail"])
    assert res["results"]["hdbscan"]["clusters"] >= 2
    saved = json.loads((tmp_path / "clusters.json").read_text())
    assert len(saved["results"]["kmeans"]["assignments"]) == 90
    for f in ("clusters.md", "map_kmeans.png", "map_hdbscan.png"):
        assert (tmp_path / f).stat().st_size > 0


def test_auto_k_and_pure_helpers():
    docs, x = blobs(k=3)
    k, scores = choose_k(x, k_max=6)
    assert k == 3 and scores[3] == max(scores.values())
    labels = np.array([0, 0, 1, 1, -1])
    kw = ctfidf_keywords(["cat cat purr", "cat meow", "stock fell", "stock rose", "noise words"], labels, top_n=1)
    assert kw == {0: [("cat", 1.0)], 1: [("stock", 1.0)]}
    reps = representatives(np.eye(3)[[0, 0, 1]].astype(np.float32), np.array([0, 0, 1]), n=1)
    assert reps == {0: [0], 1: [2]}
    assert agreement(["a", "a", "b"], np.array([1, 1, 0]))["v_measure"] == 1.0


def test_dedup_groups_exact_and_near_copies_and_keeps_the_longest():
    texts = [
        "The committee approved the new budget on Monday after a long debate.",
        "the committee approved the new budget on monday after a long   debate.",  # exact (case, spaces)
        "The committee approved the new budget on Monday after a long debate about taxes and schools.",  # longer: kept
        "Rain is expected tomorrow.",
    ]
    docs = Collection("t", ["a", "b", "c", "d"], texts, ["a.txt", "b.txt", "c.txt", "d.txt"])
    v = np.array([[1, 0, 0], [1, 0, 0], [0.99, 0.141, 0], [0, 0, 1]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    res = find_duplicates(docs, v, threshold=0.95)
    assert res["kept"] == 2 and res["removed"] == 2 and len(res["groups"]) == 1
    g = res["groups"][0]
    assert g["kept"]["id"] == "c" and g["reason"].startswith("longest text")
    kinds = {d["id"]: d["kind"] for d in g["duplicates"]}
    assert kinds == {"a": "near", "b": "near"}  # b is an exact copy of a, which is a near copy of c
    exact = find_duplicates(docs, None)
    assert exact["exact_duplicates"] == 1 and exact["groups"][0]["kept"]["id"] == "a"
    assert exact["groups"][0]["reason"].startswith("first in input order")
    v2 = v.copy()
    v2[3] = v[2]  # the embedding says "rain" is a copy of c; the words say it is not
    assert "d" in {d["id"] for g in find_duplicates(docs, v2)["groups"] for d in g["duplicates"]}
    strict = find_duplicates(docs, v2, min_overlap=0.5)
    assert {d["id"] for g in strict["groups"] for d in g["duplicates"]} == {"a", "b"}
    assert all(d["overlap"] >= 0.5 for g in strict["groups"] for d in g["duplicates"])


def test_dedup_helpers_and_threshold_check():
    assert normalize_text("ＡＢＣ  x\n") == "abc x"  # NFKC + case folding + spaces
    assert containment("a b c d e f", "a b c d") == 1.0 and containment("a b c d", "x y z w") == 0.0
    with pytest.raises(Exception, match="threshold"):
        find_duplicates(Collection("t", ["a"], ["x"]), np.ones((1, 2), np.float32), threshold=1.5)


def test_collection_from_labelled_file_and_folder(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\nalpha beta,x\ngamma delta,y\n")
    docs = load_collection([f])
    assert docs.gold == ["x", "y"] and docs.ids == ["all:2", "all:3"]
    write(tmp_path / "notes" / "a.md", "# Title\nSome text here.")
    write(tmp_path / "notes" / "b.txt", "Other text.")
    notes = load_collection([tmp_path / "notes"])
    assert len(notes) == 2 and notes.gold is None


def test_cli_cluster_and_dedup(tiny_model_dir, tmp_path, capsys):
    rows = [{"text": f"{w} {w} story number {i}", "label": w} for w in ("sport", "money", "space") for i in range(8)]
    data = write(tmp_path / "d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = run_cli(capsys, "cluster", data, "--k", "3", "--out", tmp_path / "c", "--model", tiny_model_dir, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["documents"] == 24 and "agreement_with_labels" in res["results"]["kmeans"]
    code, _, err = run_cli(capsys, "cluster", data, "--out", tmp_path / "c2", "--model", tiny_model_dir)
    assert code == 2 and "--k N or --auto" in err
    write(tmp_path / "docs" / "a.txt", "The same note about keys.")
    write(tmp_path / "docs" / "b.txt", "the same note about keys.")
    write(tmp_path / "docs" / "c.txt", "Something else entirely, about cats.")
    code, out, err = run_cli(capsys, "dedup", tmp_path / "docs", "--model", tiny_model_dir, "--json", "--out", tmp_path / "dd")
    assert code == 0, err
    res = json.loads(out)
    assert res["exact_duplicates"] == 1 and res["groups"][0]["duplicates"][0]["path"].endswith("b.txt")
    assert (tmp_path / "dd" / "dedup.md").is_file()
    code, out, err = run_cli(capsys, "dedup", tmp_path / "docs", "--model", tiny_model_dir, "--out", tmp_path / "dd")
    lines = out.splitlines()  # piped: the Markdown report itself, never lines padded to 400 columns
    assert code == 0 and "b.txt" in out and not any(line != line.rstrip() for line in lines), err
    assert max(map(len, lines)) < 200


def test_cluster_and_dedup_an_index_use_its_stored_vectors(tiny_encoder, tmp_path, capsys):
    from encoderkit import Index
    from encoderkit.tasks.collection import index_collection

    docs = [{"id": f"d{i}", "title": f"T{i}", "text": f"note number {i} about {'keys' if i % 2 else 'cats'}"} for i in range(8)]
    docs.append({"id": "copy", "title": "T1", "text": "note number 1 about keys"})
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder)
    index.add(docs, export_onnx=False)
    index.close()
    col = index_collection(tmp_path / "ix")
    assert len(col) == 9 and col.stored_vectors.shape == (9, tiny_encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(col.stored_vectors, axis=1), 1.0, atol=1e-5)
    code, out, err = run_cli(capsys, "dedup", "--index", tmp_path / "ix", "--json", "--threshold", "0.99999")
    assert code == 0, err
    res = json.loads(out)
    assert res["exact_duplicates"] == 1 and {res["groups"][0]["kept"]["id"], res["groups"][0]["duplicates"][0]["id"]} == {
        "d1",
        "copy",
    }
    code, out, err = run_cli(capsys, "cluster", "--index", tmp_path / "ix", "--k", "2", "--out", tmp_path / "c", "--json")
    assert code == 0, err and json.loads(out)["documents"] == 9


def test_kmeans_takes_sparse_tfidf_vectors():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from encoderkit.tasks.cluster import kmeans

    texts = [f"cats purr and sleep {i}" for i in range(6)] + [f"tax forms are due {i}" for i in range(6)]
    labels = kmeans(TfidfVectorizer().fit_transform(texts), 2, seed=0)
    assert len(set(labels[:6])) == 1 and len(set(labels[6:])) == 1 and labels[0] != labels[6]


def test_cluster_keywords_of_code_skip_the_language_keywords(tmp_path):
    """Keywords of Python clusters were `self, return, def`: a language's keywords and built-ins are stop words."""
    bodies = {
        "parse": "def parse_header(self, line):\n    return self.header_parser.parse(line.split(':'))\n",
        "socket": "def open_socket(self, host):\n    return self.socket_pool.connect(host, timeout=self.timeout)\n",
    }
    texts, paths, labels = [], [], []
    for c, (name, body) in enumerate(bodies.items()):
        for i in range(6):
            texts.append(body + f"\nclass {name.title()}Handler{i}:\n    pass\n")
            paths.append(str(tmp_path / f"{name}_{i}.py"))
            labels.append(c)
    docs = Collection("code", [f"d{i}" for i in range(len(texts))], texts, paths)
    from encoderkit.tasks.cluster import code_stop_words, keyword_texts

    stop = code_stop_words(docs)
    assert {"self", "return", "def", "class", "pass"} <= stop
    kw = ctfidf_keywords(keyword_texts(docs), np.array(labels), top_n=5, extra_stop_words=stop)
    assert not ({w for words in kw.values() for w, _ in words} & {"self", "return", "def", "class", "pass"})
    assert "parse" in {w for w, _ in kw[0]} and "socket" in {w for w, _ in kw[1]}
    plain = ctfidf_keywords(texts, np.array(labels), top_n=3)  # without them, keywords are the language's words
    assert {"self", "return", "def"} & {w for words in plain.values() for w, _ in words}
