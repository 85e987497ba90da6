"""What a folder sync may remove: documents under the synced roots that were not read this time and
whose file is really gone. A file that exists but could not be read (permissions, an unreadable
folder above it, an I/O error, a file being rewritten) keeps its previously indexed version.

Paths are compared as the walk writes them (absolute, as reached under the root, names escaped by
:func:`encoderkit.data.textsafe.escape_name`); a root also covers its real path, so documents indexed
under a resolved path by older versions are still found.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ...data.files.sources import Skipped, SourceDoc
from ...data.textsafe import escape_name, fs_path

# skip reasons that mean the file is not there any more (its document goes), not that it is unreadable
GONE = ("broken symlink", "path does not exist", "vanished while reading")


def sync_roots(paths: Sequence[str | Path]) -> list[str]:
    """Each root as given (absolute) and as its real path, escaped like document paths.

    >>> sync_roots(["/tmp/../tmp/x"])[0]
    '/tmp/x'
    """
    out: list[str] = []
    for p in paths:
        for form in (os.path.abspath(os.fspath(p)), os.path.realpath(os.fspath(p))):
            form = escape_name(form)
            if form not in out:
                out.append(form)
    return out


def failed_paths(skipped: Sequence[Skipped]) -> set[str]:
    """Paths (files or folders) that exist but could not be read in this run."""
    return {s.path for s in skipped if not s.reason.startswith(GONE)}


def path_state(path: str) -> str:
    """ "gone" (no such file), "present", or "unknown" (cannot tell: permissions, I/O error)."""
    try:
        os.stat(fs_path(path))
    except OSError as exc:
        return "gone" if exc.errno in (errno.ENOENT, errno.ENOTDIR) else "unknown"
    return "present"


def under(path: str, roots: Sequence[str]) -> bool:
    """Is ``path`` one of ``roots`` or inside one?

    >>> under("/a/b/c.txt", ["/a/b"]), under("/a/bc.txt", ["/a/b"]), under("/a/b", ["/a/b"])
    (True, False, True)
    """
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _failed(path: str, failed: set[str]) -> bool:
    p = path
    while True:
        if p in failed:
            return True
        parent = os.path.dirname(p)
        if parent == p:
            return False
        p = parent


@dataclass
class Vanished:
    remove: set[str] = field(default_factory=set)
    kept: list[str] = field(default_factory=list)


def find_vanished(
    incoming: Sequence[SourceDoc], visible: dict, roots: Sequence[str], failed: set[str], *, rebuild: bool = False
) -> Vanished:
    """Documents to remove after a sync of ``roots``, and those kept because their file exists but
    could not be read. With ``rebuild``, documents outside the roots whose file is gone go too."""
    incoming_ids = {d.doc_id for d in incoming}
    renamed = {d.real_path for d in incoming if d.real_path and d.real_path != d.doc_id}
    out = Vanished()
    for doc_id, row in visible.items():
        p = row["path"]
        if not p or doc_id in incoming_ids:
            continue
        if row["fmt"] != "beir" and doc_id == p and p in renamed:
            out.remove.add(doc_id)  # indexed before under its resolved path; now under the path in the root
            continue
        inside = under(p, roots)
        if not inside and not rebuild:
            continue
        if _failed(p, failed):
            out.kept.append(doc_id)
            continue
        state = path_state(p)
        if state == "gone" or (inside and row["fmt"] == "beir" and state == "present"):
            out.remove.add(doc_id)  # the file is gone, or the corpus was read and no longer has this record
        elif inside or state == "unknown":
            out.kept.append(doc_id)
    return out
