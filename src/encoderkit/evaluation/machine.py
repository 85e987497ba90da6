"""Describe the machine a figure was measured on (recorded with every result)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource


def machine_info() -> dict:
    """CPU model, cores available to this process, RAM, Python and library versions, date."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        ram = float("nan")
    versions = {}
    for mod in ("torch", "transformers", "sentence_transformers", "faiss", "bm25s"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # not imported / not installed
            pass
    from .. import __version__
    from ..runtime import cpu_count, n_threads

    return {
        "cpu": cpu,
        "cores_available": cpu_count(),
        "threads": n_threads(),
        "ram_gb": round(ram, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "encoderkit": __version__,
        "libraries": versions,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
