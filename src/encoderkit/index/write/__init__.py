"""The write path of one index: plan an update (:mod:`.plan`), chunk and encode (:mod:`.encode`),
run index-time annotators (:mod:`.annotate`), commit a generation (:mod:`.commit`), merge segments
(:mod:`.merge`), repair from the store (:mod:`.repair`), decide what a sync removes (:mod:`.scope`),
all driven by :class:`.writer.IndexWriter`; :mod:`.update_report` is what an update returns.

Builds on :mod:`..storage`; never imports :mod:`..read` (checked by import-linter).
"""
