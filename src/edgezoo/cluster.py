"""Ray, the optional cluster backend: import it with a one-line error, connect for one command.

Ray is an extra (``pip install 'edgezoo[ray]'``) and is only imported here, when a command asks
for ``--backend ray``, so that ``edgezoo list`` and every local command start without it. Where to
connect: ``--ray-address``, else ``RAY_ADDRESS`` (Ray's own variable, as ``ray start --head`` prints
it), else a local Ray instance started for this command and shut down after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import edgezoo
from edgezoo.errors import EdgezooError

INSTALL_HINT = "pip install 'edgezoo[ray]'"
ENV_PREFIX = "EDGEZOO_"  # variables a worker should see as the driver does (caches, test hooks)


def import_ray() -> Any:
    """The ``ray`` module, or an EdgezooError that says what to install."""
    try:
        import ray
    except ImportError as exc:
        raise EdgezooError(f"--backend ray needs Ray, which is not installed: {INSTALL_HINT}") from exc
    return ray


def worker_env() -> dict[str, str]:
    """Environment a worker gets on top of its node's: the driver's ``EDGEZOO_*`` variables."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


def local_runtime_env() -> dict[str, Any]:
    """Runtime environment of a Ray instance started on this machine: workers import this same
    edgezoo (a checkout's ``src/`` need not be installed), as the bench's worker processes do."""
    src = str(Path(edgezoo.__file__).resolve().parent.parent)
    path = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    return {"env_vars": {"PYTHONPATH": path, **worker_env()}}


def cluster_info(ray: Any, started_here: bool) -> dict[str, Any]:
    """Where a command ran: the cluster's address, live nodes and CPUs (the results' ``ray`` block)."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {
        "address": ray.get_runtime_context().gcs_address,
        "started_here": started_here,
        "nodes": len(nodes),
        "cpus": int(ray.cluster_resources().get("CPU", 0)),
        # nodes that can run work (a head node started with --num-cpus 0 cannot)
        "node_cpus": sorted(c for n in nodes if (c := int(n.get("Resources", {}).get("CPU", 0))) > 0),
        "ray": ray.__version__,
    }


@contextlib.contextmanager
def connected(address: str | None = None) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Ray connected for the duration of a command: ``(ray, cluster_info)``.

    An existing connection in this process (a notebook's or a test's ``ray.init``) is used as it is
    and left open. Otherwise connect to ``address``, else ``RAY_ADDRESS``, else start a local
    instance with every CPU of this machine; either is shut down on exit. While connected, stdout
    goes to stderr: Ray's driver prints its workers' errors ("Task ... failed, retrying") on stdout
    from a thread of its own, where they would corrupt ``--json`` output.
    """
    ray = import_ray()
    with contextlib.redirect_stdout(sys.stderr):
        if ray.is_initialized():
            yield ray, cluster_info(ray, started_here=False)
            return
        address = address or os.environ.get("RAY_ADDRESS") or None
        # Workers' own output stays in Ray's session logs (the user needs failures, which come back
        # as exceptions with their reasons).
        quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
        try:
            if address:
                ray.init(address=address, runtime_env={"env_vars": worker_env()}, **quiet)
            else:
                ray.init(runtime_env=local_runtime_env(), include_dashboard=False, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EdgezooError(f"cannot connect to {where}: {first}") from exc
        try:
            yield ray, cluster_info(ray, started_here=not address)
        finally:
            ray.shutdown()
