"""Open whatever index a folder holds, plain or sharded, for searching: the one place that makes that
choice for the CLI, the server and the evaluation harness.

>>> open_index("no-such-index")                                  # doctest: +SKIP
Traceback (most recent call last):
...
encoderkit.errors.EncoderkitError: ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import EncoderkitError
from .shards.routing import is_sharded


def open_index(index_dir: str | Path, *, encoder=None, backend: str = "auto", ray: str | None = None, readonly: bool = False):
    """The index at ``index_dir``: an :class:`~encoderkit.index.Index`, or a
    :class:`~encoderkit.index.shards.sharded.ShardedIndex` searched as one (through one Ray actor per shard
    with ``ray``: ``local``, ``auto`` or ``HOST:PORT``). ``encoder``: a model checked against the index's."""
    if is_sharded(index_dir):
        from .shards.sharded import ShardedIndex

        if encoder is not None:
            raise EncoderkitError("--model is not supported on a sharded index", hint="search with the index's own model")
        six = ShardedIndex.open(index_dir, backend=backend, readonly=readonly)
        if ray is not None:
            try:
                six.use_ray(ray, backend=backend)
            except BaseException:
                six.close()
                raise
        return six
    if ray is not None:
        raise EncoderkitError(
            f"--ray searches the shards of a sharded index; '{index_dir}' is an ordinary index",
            hint="leave out --ray, or build a sharded index with --shards N",
        )
    from .index import Index

    return Index.open(index_dir, encoder=encoder, backend=backend, readonly=readonly)


def search_batches(
    index, queries: Sequence[tuple[str, str]], options, *, batch_size: int = 32, show_progress: bool | None = None
):
    """(query id, text, hits) for every (id, text) of ``queries``, searched ``batch_size`` at a time (batched
    encoding and retrieval) with a progress bar unless quieted."""
    from ..runtime import progress_enabled

    bar = None
    if progress_enabled(show_progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(queries), desc="searching", unit="query")
    try:
        for i in range(0, len(queries), batch_size):
            part = queries[i : i + batch_size]
            for (qid, text), hits in zip(part, index.search_many([text for _, text in part], options)):
                yield qid, text, hits
            if bar is not None:
                bar.update(len(part))
    finally:
        if bar is not None:
            bar.close()


def repair_index(index_dir: str | Path) -> list:
    """Repair a plain index, or every shard of a sharded one (see :func:`encoderkit.index.write.repair.repair`);
    one RepairReport per repaired index."""
    from .index import Index

    if is_sharded(index_dir):
        from .shards.routing import read_shards

        return [Index.repair(Path(index_dir) / name) for name in read_shards(index_dir)["shards"]]
    return [Index.repair(index_dir)]
