"""Where models run: thread settings, progress switches, ONNX Runtime sessions.

Nothing here knows what a model computes; :mod:`encoderkit.models` builds on it.
"""

from .threads import configure_torch, cpu_count, n_threads, progress_enabled

__all__ = ["configure_torch", "cpu_count", "n_threads", "progress_enabled"]
