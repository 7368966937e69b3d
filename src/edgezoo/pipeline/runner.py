"""``edgezoo run``: the seeds' whole pipeline for one model, ending in one results file.

export -> quantize -> bench -> eval (when data is given), then ``OUT/MODEL.json`` (the results
document ``edgezoo table`` reads; schema in docs/eval.md). Quantize uses the model's shipped config
where it was measured or confirmed on this host's ISA class, else the recipe ``edgezoo tune`` picks here
(``tune=False`` / ``--no-tune``: always the shipped config). Each
stage's full output is kept beside it: artifacts in ``OUT/artifacts/``, the benchmark document in
``OUT/bench/``, the accuracy document in ``OUT/eval/``. A stage that cannot run here (no data, random
weights, a stage missing from this build) is recorded with its reason and the table shows it; a user
error (bad checkpoint, bad data) stops the run with one line and no results file.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgezoo.artifact import Artifact, command_line, now_iso, versions
from edgezoo.errors import EdgezooError
from edgezoo.fsutil import ensure_dir, write_json
from edgezoo.host import current_host
from edgezoo.pipeline.table import RESULTS_FORMAT
from edgezoo.progress import console
from edgezoo.zoo.registry import ModelCard, get_card

STAGES = ("export", "quantize", "bench", "eval")
BUNDLED_VIEWS_PER_PHOTO = 8  # offline calibration: 7 bundled photos x 8 views


@dataclass
class RunOptions:
    """What ``edgezoo run`` accepts, as a notebook would pass it."""

    model: str
    weights: Path | None = None
    pretrained: bool = False
    calib: Path | None = None
    data: Path | None = None
    out_dir: Path = Path("results")
    limit: int | None = None
    data_format: str = "auto"
    engines: tuple[str, ...] = ("onnxruntime", "openvino")
    threads: list[int] | None = None  # None: bench's default (1 and every usable core)
    duration: float | None = None  # bench seconds per measurement (None: bench's default)
    workers: int | None = None
    # Where the shipped config was neither measured nor confirmed on this host's ISA class, pick the
    # recipe by measurement here (``edgezoo tune``); False: always the shipped config (``--no-tune``).
    tune: bool = True
    tune_budget_s: float | None = None  # None: tune's default


@dataclass
class Stage:
    """How one stage went: ok, skipped (with why) and the file it wrote."""

    status: str = "pending"
    reason: str | None = None
    output: str | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class _State:
    card: ModelCard
    options: RunOptions
    artifacts: dict[str, Artifact] = field(default_factory=dict)  # precision -> artifact
    stages: dict[str, Stage] = field(default_factory=lambda: {s: Stage() for s in STAGES})
    bench_doc: dict[str, Any] | None = None
    eval_doc: dict[str, Any] | None = None

    @property
    def artifacts_dir(self) -> Path:
        return self.options.out_dir / "artifacts"


def _timed(state: _State, name: str, work: Callable[[_State], Stage]) -> None:
    console.print(f"[bold]{state.card.name}[/]: {name}")
    started = time.perf_counter()
    stage = work(state)
    if stage.status == "ok":
        stage.seconds = round(time.perf_counter() - started, 2)
    else:
        console.print(f"  [yellow]{name} {stage.status}[/]: {stage.reason}")
    state.stages[name] = stage


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------


def _export(state: _State) -> Stage:
    from edgezoo.export.to_onnx import export

    o = state.options
    artifact, _ = export(state.card, weights=o.weights, pretrained=o.pretrained, out_dir=state.artifacts_dir)
    state.artifacts["fp32"] = artifact
    return Stage("ok", output=str(artifact.onnx_path))


def _quantize(state: _State) -> Stage:
    """The model's shipped quantization config, calibrated on --calib, or offline on views of the bundled photos."""
    from edgezoo.inputs.samples import sample_photos, write_photo_variants
    from edgezoo.quantize.api import config_for, quantize_artifact

    fp32 = state.artifacts["fp32"]
    config = config_for(None, fp32)
    host = current_host()
    tune = state.options.tune and host.isa_class not in config.isa_classes
    note = None
    with tempfile.TemporaryDirectory(prefix="edgezoo-calib-") as tmp:
        calib = state.options.calib
        if calib is None:
            # Real photos shipped inside installed wheels: enough to run offline, too few to judge
            # accuracy on; the stage says so.
            calib = Path(tmp)
            write_photo_variants(sample_photos(), calib, per_photo=BUNDLED_VIEWS_PER_PHOTO)
            note = f"calibrated on {BUNDLED_VIEWS_PER_PHOTO} views of each bundled photo (no --calib)"
        if tune:
            from edgezoo.tune.search import DEFAULT_BUDGET_S, TuneOptions, tune_artifact

            budget = state.options.tune_budget_s or DEFAULT_BUDGET_S
            options = TuneOptions(calib=calib, budget_s=budget, out_dir=state.artifacts_dir, force=True)
            result = tune_artifact(fp32, options, host=host)
            why = f"{config.source} was timed on {' / '.join(config.isa_classes)}, not on this {host.isa_class} host"
            tuned = f"tuned ({why}): chose '{result.chosen}', {result.config_path.name}"
            note = f"{note}; {tuned}" if note else tuned
            state.artifacts["int8"] = result.artifact
            return Stage("ok", note, output=str(result.artifact.onnx_path))
        outcome = quantize_artifact(fp32, calib, config=config, out_dir=state.artifacts_dir, force=True)
    state.artifacts["int8"] = outcome.artifact
    return Stage("ok", note, output=str(outcome.artifact.onnx_path))


def _bench(state: _State) -> Stage:
    try:
        from edgezoo.bench import BenchOptions, bench
    except ImportError:
        return Stage("skipped", "bench stage not available in this build of edgezoo")
    o = state.options
    extra: dict[str, Any] = {} if o.duration is None else {"duration": o.duration}
    doc = bench(
        BenchOptions(
            items=[state.card.name],
            engines=list(o.engines),
            precisions=sorted(state.artifacts),
            peers=[],
            threads=o.threads,
            streams=None,
            artifacts_dir=state.artifacts_dir,
            calib=o.calib,
            **extra,
        )
    )
    target = o.out_dir / "bench" / f"{state.card.name}.json"
    write_json(target, doc)
    state.bench_doc = doc
    return Stage("ok", output=str(target))


def _eval(state: _State) -> Stage:
    o = state.options
    if o.data is None:
        return Stage("skipped", "no --data")
    weights = state.artifacts["fp32"].card.get("weights", {})
    if weights.get("kind") == "random":
        return Stage("skipped", "random weights")
    from edgezoo.evaluate.accuracy import evaluate

    doc = evaluate(
        [state.artifacts[p] for p in sorted(state.artifacts)],
        o.data,
        fmt=o.data_format,
        limit=o.limit,
        workers=o.workers,
    )
    target = o.out_dir / "eval" / f"{state.card.name}.json"
    write_json(target, doc)
    state.eval_doc = doc
    return Stage("ok", output=str(target))


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


def bench_summary(doc: dict[str, Any], precision: str, way: str | None = None) -> dict[str, Any] | None:
    """The seeds' speed columns for one precision, from a bench document's result records.

    1-thread latency, at 1 thread, 1 stream, batch 1: of the way ``way`` names (a bench row label:
    the artifact as its card deploys it, so that speed and accuracy describe the same thing), else of
    the fastest way (engine, and for OpenVINO the precision of the float operators). Multi-thread
    latency: that same way at the most threads it was run with, 1 stream. FPS: its best throughput
    at any thread and stream count. Only edgezoo's own artifacts count (not the peers).
    """
    rows = [
        r
        for r in doc.get("results", [])
        if r.get("precision") == precision and r.get("variant", "edgezoo") == "edgezoo" and r.get("batch", 1) == 1
    ]
    single = [r for r in rows if r["threads"] == 1 and r.get("streams", 1) == 1]
    if not single:
        return None
    named = [r for r in single if way is not None and r.get("label") == way]
    best = min(named or single, key=lambda r: r["latency_ms"]["median"])
    # One bench row label per way of running (engine, device, precision hint), whatever the threads.
    same = [r for r in rows if r.get("label", r["engine"]) == best.get("label", best["engine"])]
    multi_threads = max(r["threads"] for r in same)
    multi = [r for r in same if r["threads"] == multi_threads and r.get("streams", 1) == 1]
    fastest_fps = max(same, key=lambda r: r["fps"])
    return {
        "engine": best["engine"],
        "engine_precision": best.get("engine_precision"),
        "latency_1t_ms": round(best["latency_ms"]["median"], 3),
        "latency_mt_ms": round(multi[0]["latency_ms"]["median"], 3) if multi and multi_threads > 1 else None,
        "threads_mt": multi_threads if multi_threads > 1 else None,
        "fps": round(fastest_fps["fps"], 2),
        "fps_at": {"threads": fastest_fps["threads"], "streams": fastest_fps.get("streams", 1)},
    }


def _accuracy(state: _State, precision: str) -> dict[str, Any]:
    if state.eval_doc is None:
        return {"top1": None, "top5": None, "agreement_top1": None, "accuracy_note": state.stages["eval"].reason}
    path = str(state.artifacts[precision].onnx_path)
    results = [r for m in state.eval_doc["models"] for r in m["results"] if r["artifact"] == path]
    r = results[0]
    return {"top1": r["top1"], "top5": r["top5"], "agreement_top1": r["agreement_top1"], "accuracy_note": None}


def _deployed(artifact: Artifact) -> str | None:
    try:
        from edgezoo.bench.targets import deployed_label
    except ImportError:  # no bench in this build: there is no bench document either
        return None
    return deployed_label(artifact)


def results_document(state: _State) -> dict[str, Any]:
    """The results file for one model (schema: docs/eval.md)."""
    fp32 = state.artifacts["fp32"].card
    precisions: dict[str, Any] = {}
    for precision, artifact in sorted(state.artifacts.items()):
        speed = bench_summary(state.bench_doc, precision, _deployed(artifact)) if state.bench_doc else None
        precisions[precision] = {
            "artifact": str(artifact.onnx_path),
            "engine": (speed or {}).get("engine") or artifact.card.get("engine"),
            **_accuracy(state, precision),
            "latency_1t_ms": None,
            "latency_mt_ms": None,
            "threads_mt": None,
            "fps": None,
            **(speed or {"speed_note": state.stages["bench"].reason or "not measured"}),
        }
    ds = (state.eval_doc or {}).get("dataset")
    return {
        "edgezoo_results": RESULTS_FORMAT,
        "model": state.card.name,
        "timm_name": state.card.timm_name,
        "created": now_iso(),
        "command": command_line(),
        "versions": versions(),
        "machine": (state.bench_doc or {}).get("machine"),
        "input_size": list(fp32["input"]["shape"][2:]),
        "num_classes": state.card.num_classes,
        "params_m": round(fp32["params"]["pytorch"] / 1e6, 3),
        "weights": fp32.get("weights"),
        "reference": state.card.reference,
        "stages": {name: stage.to_dict() for name, stage in state.stages.items()},
        "precisions": precisions,
        "eval": None
        if ds is None
        else {
            "dataset": f"{ds['root']} ({ds['format']}, {ds['evaluated']} images)",
            "subset": ds.get("subset_text"),
            "report": state.stages["eval"].output,
        },
    }


def check_options(options: RunOptions) -> None:
    """Refuse options that cannot work, before any stage runs (and before a cluster is asked)."""
    if options.weights is not None and options.pretrained:
        raise EdgezooError("--weights and --pretrained exclude each other: pick one")
    if options.data is not None and not options.data.is_dir():
        raise EdgezooError(f"{options.data}: no such data folder")
    if options.calib is not None and not options.calib.is_dir():
        raise EdgezooError(f"{options.calib}: no such calibration folder")
    get_card(options.model)  # a bad name or tag fails before anything is written or a cluster is asked


def run(options: RunOptions) -> tuple[Path, dict[str, Any]]:
    """Run every stage for one model and write ``OUT/MODEL.json``; returns its path and content."""
    check_options(options)
    card = get_card(options.model)  # a bad name fails before anything is written
    ensure_dir(options.out_dir)
    state = _State(card, options)
    for name, work in (("export", _export), ("quantize", _quantize), ("bench", _bench), ("eval", _eval)):
        _timed(state, name, work)
    doc = results_document(state)
    target = options.out_dir / f"{state.card.name}.json"
    write_json(target, doc)
    return target, doc
