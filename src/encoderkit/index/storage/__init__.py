"""The on-disk format of one index, and nothing that changes it by itself: the manifest (format
versions, integrity records), the SQLite store, immutable segments and their deletion markers,
checksums and cheap invariants, reader leases and the writer lock, I/O-error reporting, the index's
recorded model (found, checked and loaded from the manifest), the disk/memory footprint, and every
branch for formats 1 and 2 (:mod:`.migrate`).

Imports nothing from :mod:`..write`, :mod:`..read` or :mod:`..shards` (checked by import-linter).
"""
