"""``encoderkit serve --ray --replicas N``: the same FastAPI app in N Ray Serve replicas behind Ray Serve's
HTTP proxy, sharing one set of shard actors (found by name, see :mod:`encoderkit.index.shards.ray_actors`).

Each replica builds its app when it starts (Ray Serve's builder-function ingress), so nothing but the
index folder and the server settings travels to it. Under Ray Serve the HTTP connection limits of
:mod:`encoderkit.server.protocol` are Ray's proxy's; the API keys, host checks, body and input limits
are the app's own and hold as in one process.

>>> replica_config(2, 4)["num_replicas"], replica_config(2, 4)["max_ongoing_requests"]
(2, 4)
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from ..errors import EncoderkitError
from .config import ServerConfig

APP_NAME = "encoderkit"


def replica_config(replicas: int, max_ongoing: int = 16) -> dict:
    """Ray Serve deployment options for ``replicas`` copies of the app (CPU for their query encoding)."""
    if replicas < 1:
        raise EncoderkitError(f"--replicas must be at least 1, not {replicas}", hint="e.g. --replicas 2")
    return {"num_replicas": int(replicas), "max_ongoing_requests": int(max_ongoing), "ray_actor_options": {"num_cpus": 0}}


def build_app(index_dir: str, config: ServerConfig):
    """The app a replica serves (runs inside the replica)."""
    from .app import create_app

    return create_app(index_dir, config)


def start(index_dir: str | Path, config: ServerConfig, *, port: int, replicas: int) -> str:
    """Deploy ``replicas`` copies of the app on the connected Ray cluster, listening on
    ``config.host:port``; returns the URL. Shard actors are started first, once, by this process."""
    from ..index.shards.sharded import ShardedIndex
    from ..runtime.ray_cluster import connect, require_ray

    require_ray()
    from ray import serve

    connect(config.ray)
    six = ShardedIndex.open(index_dir, readonly=True, backend=config.backend)
    six.use_ray(config.ray, backend=config.backend)  # named actors: the replicas find these
    six.remote.owned = []  # keep them running after this handle goes away (stop() ends them)
    six.close()
    serve.start(http_options={"host": config.host, "port": int(port)})
    replica_cfg = replace(config, ray="auto")  # replicas join the cluster they run on
    folder = str(Path(index_dir).resolve())

    def builder():  # a zero-argument function: Ray Serve calls it in each replica to get the app
        return build_app(folder, replica_cfg)

    ingress = serve.ingress(builder)
    deployment = serve.deployment(name="encoderkit-server", **replica_config(replicas))(ingress(type("EncoderkitServer", (), {})))
    serve.run(deployment.bind(), name=APP_NAME, route_prefix="/", blocking=False)
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"http://{host}:{port}"


def stop(index_dir: str | Path) -> None:
    """Remove the app and the index's shard actors (its files are untouched)."""
    from ray import serve

    from ..index.shards.ray_actors import stop_actors
    from ..index.shards.routing import read_shards

    try:
        serve.delete(APP_NAME)
        serve.shutdown()
    finally:
        stop_actors(index_dir, len(read_shards(Path(index_dir))["shards"]))


def serve_forever(index_dir: str | Path, config: ServerConfig, *, port: int, replicas: int, on_ready=None) -> None:
    """:func:`start`, then wait until Ctrl-C, then :func:`stop`."""
    url = start(index_dir, config, port=port, replicas=replicas)
    if on_ready is not None:
        on_ready(url)
    import signal

    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        stop(index_dir)


__all__ = ["APP_NAME", "build_app", "replica_config", "serve_forever", "start", "stop"]
