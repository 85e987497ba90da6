"""Process-wide runtime settings: CPU threads for torch/faiss, quiet mode for progress bars."""

from __future__ import annotations

import os

_configured = False


def cpu_count() -> int:
    """Cores this process may run on (respects affinity and cgroup-style limits via sched_getaffinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def n_threads() -> int:
    """Threads to use: ENCODERKIT_THREADS if set, else one per available core."""
    env = os.environ.get("ENCODERKIT_THREADS")
    if env:
        return max(1, int(env))
    return cpu_count()


def configure_torch() -> None:
    """Set torch's intra-op threads from the core count (once per process)."""
    global _configured
    if _configured:
        return
    import torch

    torch.set_num_threads(n_threads())
    try:
        torch.set_num_interop_threads(1)  # one model at a time: inter-op parallelism only adds contention
    except RuntimeError:  # already set, or parallel work already started in this process
        pass
    _configured = True


def cpu_flags() -> set[str]:
    """The CPU feature flags of this machine (``/proc/cpuinfo``; empty where unreadable)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX): only then is bf16 faster than fp32."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def progress_enabled(show_progress: bool | None) -> bool:
    """Progress bars show unless turned off by argument or ENCODERKIT_QUIET=1."""
    if show_progress is not None:
        return show_progress
    return os.environ.get("ENCODERKIT_QUIET", "") not in ("1", "true", "yes")
