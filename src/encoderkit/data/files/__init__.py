"""The user's files turned into documents: walking folders safely (:mod:`.sources`), capped reads and
hostile-file checks (:mod:`.fileio`), text out of PDF / DOCX / HTML / gzip (:mod:`.convert`), source
code split at functions and classes (:mod:`.code`) and per-file time limits (:mod:`.timelimit`)."""
