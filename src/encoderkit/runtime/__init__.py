"""Where models run: thread settings, progress switches, ONNX Runtime sessions.

Nothing here knows what a model computes; :mod:`encoderkit.models` builds on it.
"""

from .progress import batch_done, on_batch
from .threads import configure_torch, cpu_count, cpu_has_bf16, n_threads, progress_enabled

__all__ = ["batch_done", "configure_torch", "cpu_count", "cpu_has_bf16", "n_threads", "on_batch", "progress_enabled"]
