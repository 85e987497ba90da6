"""The read path of one index: the snapshot of the live generation (:mod:`.snapshot`), the searcher
that ranks queries on it and turns rankings into hits (:mod:`.searcher`), filters (:mod:`.filters`)
and whole-document views (:mod:`.documents`).

Builds on :mod:`..storage`; never imports :mod:`..write` (checked by import-linter).
"""
