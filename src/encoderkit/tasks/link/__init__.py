"""Entity linking: normalise mentions to the concepts of a code set by retrieval over the code set's names
(:mod:`.linker`), with the mention preprocessing of the published protocol (:mod:`.mentions`)."""
