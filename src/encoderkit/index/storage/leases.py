"""Reader leases and garbage collection: old segment files are deleted once no reader holds them.

At every commit the writer writes ``leases/gen-GGGGGG.json`` (the files generation G searches) before
switching the manifest to G. A reader that loads G holds a shared ``flock`` on that file for as long as
it searches G, and checks after locking that the manifest still names G (else the writer may already
have collected it: it lets go and loads the newer one). After a commit the writer collects: each
older lease file it can lock exclusively (no reader) is deleted; the files of generations still
locked, and of the live one, are kept; every other segment folder and deletion marker is deleted.
Locks die with their process (kill -9 included), so a crashed reader never pins files for ever.

Rows of the store follow the same rule (:meth:`Store.purge` with :func:`oldest_held`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Iterable

LEASES = "leases"


def lease_path(index_dir: Path, gen: int) -> Path:
    return Path(index_dir) / LEASES / f"gen-{gen:06d}.json"


def write_lease(index_dir: Path, gen: int, files: Iterable[str]) -> None:
    """Record the files of generation ``gen`` (before the manifest names it)."""
    folder = Path(index_dir) / LEASES
    folder.mkdir(exist_ok=True)
    path = lease_path(index_dir, gen)
    tmp = folder / f".{path.name}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(sorted(set(files))))
    os.replace(tmp, path)


class Lease:
    """A shared lock on one generation's lease file (or nothing, for indexes without leases)."""

    def __init__(self, gen: int, fh=None):
        self.gen = gen
        self._fh = fh

    @classmethod
    def acquire(cls, index_dir: Path, gen: int) -> Lease | None:
        """Hold generation ``gen`` shared; None when its lease file is gone (collected: load a newer one)."""
        path = lease_path(index_dir, gen)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            return None
        except OSError:  # unreadable leases folder: search anyway, unprotected (a read-only copy)
            return cls(gen)
        fcntl.flock(fh, fcntl.LOCK_SH)
        try:
            same = os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # collected between open and lock
            fh.close()
            return None
        return cls(gen, fh)

    def release(self) -> None:
        if self._fh is not None:
            try:
                fcntl.flock(self._fh, fcntl.LOCK_UN)
            finally:
                self._fh.close()
                self._fh = None

    def __del__(self):  # a snapshot dropped without release (e.g. a reader object garbage-collected)
        try:
            self.release()
        except Exception:
            pass


def held_generations(index_dir: Path, live: int) -> dict[int, list[str]]:
    """Generations other than ``live`` that a reader holds, with their files; lease files of the others
    are deleted (each under an exclusive lock, so no reader can be taking it meanwhile)."""
    folder = Path(index_dir) / LEASES
    held: dict[int, list[str]] = {}
    if not folder.is_dir():
        return held
    for path in sorted(folder.glob("gen-*.json")):
        try:
            gen = int(path.stem[4:])
        except ValueError:
            continue
        if gen == live:
            continue
        try:
            fh = open(path, "rb")
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    held[gen] = json.loads(path.read_text())
                except (OSError, ValueError):
                    held[gen] = []
                continue
            path.unlink(missing_ok=True)  # nobody reads it (or a commit that never switched the manifest)
        finally:
            fh.close()
    for stray in folder.glob(".gen-*.tmp-*"):
        _remove_if_dead(stray)
    return held


def collect(index_dir: Path, live_files: Iterable[str], live: int) -> tuple[list[str], int]:
    """Delete segment folders and deletion markers that neither the live generation nor any held one
    uses, and temporary folders of dead writers. Returns (what was deleted, the oldest generation a
    reader still holds, ``live`` when none: rows removed up to it can be purged from the store)."""
    index_dir = Path(index_dir)
    keep = set(live_files)
    held = held_generations(index_dir, live)
    for files in held.values():
        keep.update(files)
    keep_dirs = {f.split("/", 1)[0] for f in keep}
    removed = []
    for p in index_dir.iterdir():
        name = p.name
        if name.startswith(".") and ".tmp-" in name:
            if _remove_if_dead(p):
                removed.append(name)
        elif name.startswith(("seg-", "gen-")) and p.is_dir():
            if name not in keep_dirs:
                shutil.rmtree(p, ignore_errors=True)
                removed.append(name)
                continue
            for f in p.iterdir():
                rel = f"{name}/{f.name}"
                if f.name.startswith("del-") and rel not in keep:
                    f.unlink(missing_ok=True)
                    removed.append(rel)
                elif f.name.startswith(".del-") and ".tmp-" in f.name:
                    _remove_if_dead(f)
    return removed, min([g for g in held if g < live], default=live)


def _remove_if_dead(path: Path) -> bool:
    """Remove a ``.NAME.tmp-PID`` file or folder whose writer process is gone."""
    pid = path.name.rsplit("-", 1)[-1]
    if pid.isdigit() and _pid_alive(int(pid)):
        return False
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return True


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers: the writer holds the lock, nothing of ours is in flight
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
