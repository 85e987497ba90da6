"""Indexing progress moves per model batch, with totals known before the first batch (#17)."""

import tqdm.auto


class Recorder:
    instances: list = []

    def __init__(self, iterable=None, *a, total=0, **k):
        self.iterable, self.total, self.updates, self.resets = iterable, total, [], []
        if iterable is None:
            Recorder.instances.append(self)

    def __iter__(self):  # libraries (bm25s) wrap iterables in tqdm too
        return iter(self.iterable)

    def reset(self, total=None):
        self.total = total
        self.resets.append(total)

    def update(self, n=1):
        self.updates.append(n)

    def set_description(self, *a, **k):
        pass

    def close(self):
        pass


def test_progress_moves_per_batch_from_the_first_batch(tmp_path, tiny_model_dir, monkeypatch):
    from encoderkit import Index

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    Recorder.instances.clear()
    idx = Index.create(tmp_path / "ix", encoder=str(tiny_model_dir))
    filler = " ".join(f"word{j}" for j in range(30))  # ~90 tokens: a token-budget batch holds ~90 of them
    docs = [{"id": f"d{i}", "text": f"document {i} says something about topic {i % 9}. {filler}"} for i in range(200)]
    idx.add(docs, show_progress=True, export_onnx=False, write_every=512)  # even one big group moves per batch
    bar = Recorder.instances[-1]
    assert bar.resets == [200] and sum(bar.updates) == 200
    from encoderkit.models.heads.encoder import token_budget_batches
    from encoderkit.retrieval.base import DOCUMENT_TOKEN_BUDGET

    texts = [idx.chunk_texts([c])[c] for c in sorted(idx.snapshot().chunk_ids.tolist())]
    lengths = [min(n + 2, idx.encoder.max_length) for n in idx.encoder.count_tokens(texts)]
    batches = token_budget_batches(lengths, DOCUMENT_TOKEN_BUDGET, max_batch=8 * 32)
    assert len(batches) >= 2 and bar.updates == [len(b) for b in batches]  # one report per model batch, from the first
    idx.close()


def test_groups_are_small_by_default():
    import inspect

    from encoderkit.index.index import Index
    from encoderkit.index.write.encode import GROUP_CHUNKS, encode_documents

    assert GROUP_CHUNKS <= 128 and inspect.signature(encode_documents).parameters["group_chunks"].default == GROUP_CHUNKS
    assert inspect.signature(Index.sync).parameters["write_every"].default <= 128
