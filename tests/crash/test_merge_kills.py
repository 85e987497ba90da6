"""Kills during merges and commits leave a searchable index at its last committed generation; the next
run finishes the work and leaves no stray files."""

from __future__ import annotations

import pytest

from encoderkit import Index
from support.corpus import QUERIES, make_docs


def _results(index):
    return {q: [[h.doc_id, round(h.score, 5)] for h in index.search(q, k=10)] for q in QUERIES}


def _kill_at(tmp_path, target, run, before):
    from support.children import _run_child

    proc = _run_child(tmp_path, target, 1, run, before=before)
    proc.kill()
    proc.wait()


@pytest.mark.parametrize(
    "target,before",
    [
        ("encoderkit.retrieval.bm25:merge", False),  # merged postings written, segment not renamed
        ("encoderkit.index.write.commit:write_manifest", True),  # merged segment complete, manifest not switched
        ("encoderkit.index.write.commit:collect", True),  # manifest switched, old segments not yet collected
    ],
)
def test_kill_during_merge_then_search(tmp_path, tiny_encoder, target, before):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=24, chunk_overlap=4)
    index.set_merge_policy(auto=False)
    for i in range(4):
        index.add(make_docs(8, seed=40 + i, prefix=f"k{i}-"))
    index.remove(["k0-001", "k2-003"])
    expected = _results(index)
    index.close()
    _kill_at(tmp_path, target, f"from encoderkit import Index; Index.open({str(index.path)!r}).optimize()", before)
    reader = Index.open(index.path)
    assert _results(reader) == expected and reader.health(full=True).ok
    switched = target.endswith("collect")
    assert len(reader.manifest["segments"]) == (1 if switched else 4)
    reader.optimize()
    assert _results(reader) == expected and len(reader.manifest["segments"]) == 1
    assert not [p for p in reader.path.iterdir() if ".tmp-" in p.name]  # leftovers of the killed writer are gone
    assert {p.name for p in reader.path.glob("seg-*")} == {reader.manifest["segments"][0]["name"]}


def test_kill_after_commit_before_collection(tmp_path, tiny_encoder):
    index = Index.create(tmp_path / "ix", encoder=tiny_encoder, chunk_size=0)
    index.add(make_docs(10, seed=9))
    index.close()
    run = f"from encoderkit import Index; Index.open({str(index.path)!r}).remove(['d003'])"
    _kill_at(tmp_path, "encoderkit.index.write.commit:collect", run, True)
    reader = Index.open(index.path)
    assert reader.generation == 2 and "d003" not in reader.doc_ids().values() and reader.health(full=True).ok
    assert (reader.path / "seg-000001" / "del-000002.npy").is_file()
