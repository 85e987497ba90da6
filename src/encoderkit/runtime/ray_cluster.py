"""Connecting to a Ray cluster: the optional ``encoderkit[ray]`` extra, imported only when asked for.

``connect("local")`` starts a Ray instance inside this process tree (what ``--ray`` with no address
does) and stops it again at :func:`disconnect`; ``connect("auto")`` joins the cluster started on this
machine by ``ray start --head``; ``connect("HOST:PORT")`` / ``connect("ray://HOST:PORT")`` joins a
remote one. The index folder must be on a filesystem every node sees (the driver writes it, workers
read the model from the paths the manifest names).

>>> is_address("10.0.0.5:6379"), is_address("ray://head:10001"), is_address("auto"), is_address("docs/")
(True, True, True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import EncoderkitError

LOCAL = "local"
_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d+$")
_started_here = False
_initialized_here = False  # this process's ray.init was ours (release() undoes it)


def is_address(value: str) -> bool:
    """Whether ``value`` names a Ray cluster (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``) rather than a
    path: what lets ``--ray`` take an optional address."""
    return value in ("auto", LOCAL) or bool(_ADDRESS.match(value))


def require_ray():
    """The ``ray`` module, or a one-line error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise EncoderkitError(
            "Ray is not installed, so --ray cannot run", hint='install the extra: pip install "encoderkit[ray]"'
        ) from None
    return ray


@dataclass
class ClusterInfo:
    """What a connection found: the address, CPUs and nodes of the cluster, and whether this process
    started it (then :func:`disconnect` stops it)."""

    address: str
    cpus: int
    nodes: int
    started_here: bool
    gpus: float = 0.0


def connect(address: str | None = LOCAL, *, num_cpus: int | None = None, quiet: bool = True) -> ClusterInfo:
    """Join (or start, for ``local``) a Ray cluster; a second call reuses the connection."""
    global _started_here, _initialized_here
    ray = require_ray()
    address = address or LOCAL
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": not quiet, "logging_level": "ERROR"}
        if address == LOCAL:
            from .threads import cpu_count

            kwargs["num_cpus"] = num_cpus or cpu_count()
            _started_here = True
        else:
            kwargs["address"] = address
            _started_here = False
        try:
            ray.init(**kwargs)
            _initialized_here = True
        except (ConnectionError, RuntimeError, ValueError) as exc:
            _started_here = False
            raise EncoderkitError(
                f"could not connect to the Ray cluster at '{address}': {str(exc).splitlines()[0] if str(exc) else exc}",
                hint="start one with `ray start --head`, or give --ray with no address for a local one",
            ) from None
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = int(sum(n.get("Resources", {}).get("CPU", 0) for n in nodes))
    gpus = float(sum(n.get("Resources", {}).get("GPU", 0) for n in nodes))
    return ClusterInfo(address=address, cpus=cpus, nodes=len(nodes), started_here=_started_here, gpus=gpus)


def release() -> None:
    """Leave the cluster if :func:`connect` joined it (a connection made before, e.g. by the caller's own
    ``ray.init``, stays)."""
    if _initialized_here:
        disconnect()


def disconnect() -> None:
    """Leave the cluster (stopping the local instance when this process started it)."""
    global _started_here, _initialized_here
    _initialized_here = False
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()
    _started_here = False


__all__ = ["ClusterInfo", "LOCAL", "connect", "disconnect", "is_address", "release", "require_ray"]
