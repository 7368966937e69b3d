"""``edgezoo run MODEL... --backend ray``: each model's whole pipeline as one Ray task.

A task runs :func:`edgezoo.pipeline.runner.run` unchanged (export, quantize, bench, eval) and writes
``OUT/MODEL.json`` and its stage files where the local run would, so ``OUT`` must be a folder the
workers share with the driver; when a results file is not visible from the driver, the driver writes
it from the document the task returns, so that ``edgezoo table`` on the driver still sees every model.

Timing rules: a bench times with up to ``max(threads)`` cores, so each task reserves that many CPUs
(``num_cpus``) and Ray never runs two tasks on the same reserved cores. The default thread counts
are 1 and all the cores of the smallest node, which makes the models of one node take turns, as a
benchmark on a quiet machine requires; pass ``--threads 1`` to run one model per core instead (its
single-thread latency is then measured next to other busy cores; the results' machine block says
what the load was).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgezoo.cluster import connected, worker_env
from edgezoo.errors import EdgezooError
from edgezoo.fsutil import write_json
from edgezoo.pipeline.runner import RunOptions, check_options
from edgezoo.progress import track

RETRIES = 1  # a task whose worker process died (not one that raised) is run again this many times


def _absolute(options: RunOptions, threads: list[int]) -> RunOptions:
    """Paths as the driver means them (a worker's working folder is its own), threads made explicit."""

    def absolute(p: Path | None) -> Path | None:
        return None if p is None else Path(os.path.abspath(p))

    return replace(
        options,
        weights=absolute(options.weights),
        calib=absolute(options.calib),
        data=absolute(options.data),
        out_dir=Path(os.path.abspath(options.out_dir)),
        threads=threads,
        workers=options.workers if options.workers is not None else max(threads),
    )


def run_model_task(options: RunOptions) -> dict[str, Any]:
    """The body of one Ray task: the local pipeline, and where it ran."""
    import ray

    from edgezoo.pipeline.runner import run

    path, doc = run(options)
    return {"path": str(path), "doc": doc, "node": ray.util.get_node_ip_address()}


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, EdgezooError):
        return str(cause)
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}".strip()


def run_on_ray(
    runs: Sequence[RunOptions], address: str | None = None
) -> tuple[list[tuple[Path, dict[str, Any]]], dict[str, str], dict[str, Any]]:
    """Every model's pipeline as a Ray task, all run to their end.

    Returns (path, results document) of each model that finished, in the order given; the models
    that failed, each with its one-line reason (their results files are not written); and the
    cluster's description.
    """
    for options in runs:
        check_options(options)
    with connected(address) as (ray, cluster):
        from ray.exceptions import RayError

        smallest = min(cluster["node_cpus"] or [1])
        refs: dict[Any, int] = {}
        for i, options in enumerate(runs):
            threads = sorted(set(options.threads or [1, smallest]))
            if max(threads) > max(cluster["node_cpus"] or [1]):
                raise EdgezooError(
                    f"--threads {max(threads)}: no node of the Ray cluster has that many CPUs ({cluster['node_cpus']})"
                )
            task = ray.remote(run_model_task).options(
                num_cpus=max(threads),
                max_retries=RETRIES,
                retry_exceptions=False,
                runtime_env={"env_vars": worker_env()},
                name=f"edgezoo run {options.model}",
            )
            refs[task.remote(_absolute(options, threads))] = i
        results: list[dict[str, Any] | None] = [None] * len(runs)
        failures: dict[int, str] = {}

        def completed() -> Iterator[int]:
            pending = list(refs)
            while pending:
                [ref], pending = ray.wait(pending, num_returns=1)
                i = refs[ref]
                try:
                    results[i] = ray.get(ref)
                except RayError as exc:
                    failures[i] = _reason(exc)
                yield i

        for _ in track(completed(), f"run on Ray: {len(runs)} models", total=len(runs), unit="models"):
            pass
    done: list[tuple[Path, dict[str, Any]]] = []
    for result in results:
        if result is None:
            continue
        path = Path(result["path"])
        if not path.is_file():  # written on a node whose disk the driver does not see
            write_json(path, result["doc"])
        done.append((path, result["doc"]))
    return done, {runs[i].model: why for i, why in sorted(failures.items())}, cluster
