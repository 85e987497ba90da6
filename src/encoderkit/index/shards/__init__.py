"""Several indexes as one: shard names and document routing (:mod:`.routing`, ``shards.json``), the
sharded index (:mod:`.sharded`), a shard's retriever seen as part of the whole (:mod:`.view`), and the
optional Ray parts: shard actors (:mod:`.ray_actors`) and distributed builds (:mod:`.ray_build`).

Above the single-index facade (:class:`encoderkit.index.index.Index`), which never imports it.
"""

from .routing import is_sharded, read_shards, route, shard_name, write_shards

__all__ = ["is_sharded", "read_shards", "route", "shard_name", "write_shards"]
