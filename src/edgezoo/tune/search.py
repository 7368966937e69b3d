"""``edgezoo tune``: build each candidate recipe (candidates.py), measure its latency here and its
fidelity on held-out images, and keep the fastest one that holds the fidelity bar.

Why measure instead of choosing from tables: the shipped configs were timed on one ISA, and both
speed (which int8 and float kernels a CPU has) and fidelity (x86 without VNNI saturates 8-bit
weights) change with the host. All candidates share one calibration set, one held-out set and one
float reference, so they differ only in the recipe; their latencies are measured in interleaved
rounds, so a burst of load on a shared CPU hits them all alike. Nothing is written until the choice
is made: then ``DIR/MODEL.tuned.yaml`` (loadable by ``quantize --config``), the chosen artifact
``DIR/MODEL.int8.onnx`` + ``.json`` and the table of every candidate ``DIR/MODEL.tune.json``; the
other candidates live and die in a temporary folder.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edgezoo.agreement import band_at
from edgezoo.artifact import Artifact, now_iso, write_artifact
from edgezoo.errors import EdgezooError, EngineRefused
from edgezoo.fsutil import atomic_path, write_json
from edgezoo.host import Host, current_host
from edgezoo.progress import steps
from edgezoo.quantize.api import (
    AUTO_LAYERS_PER_STEP,
    DEFAULT_HOLDOUT,
    BuiltCandidate,
    Quantizer,
    config_for,
    held_out_set,
    int8_card,
    model_card_of,
    output_path,
)
from edgezoo.quantize.calibration import calibration_set
from edgezoo.quantize.config import QuantConfig, load_config, to_yaml
from edgezoo.quantize.fidelity import report
from edgezoo.quantize.graph import INT8_COMPUTE_OPS
from edgezoo.runtime.engines import SessionOptions, open_session
from edgezoo.runtime.timing import interleaved_ms
from edgezoo.tune.candidates import AUTO, Recipe, candidates

log = logging.getLogger(__name__)

# The bar every shipped config holds (docs/quantize_targets.md): logit cosine, and on real weights
# top-1 agreement on held-out images whose float top-1 leads by at least MARGIN.
MIN_COSINE = 0.995
MIN_AGREEMENT = 0.99
MARGIN = 0.05
# Fits 10 minutes per model on 2 shared cores with the export and the final write (fastvit_t8: about
# 30 s per candidate at 200 calibration images).
DEFAULT_BUDGET_S = 420.0
MEASURE_SHARE = 0.15  # of the budget kept for the latency rounds
MEASURE_MIN_S, MEASURE_MAX_S = 4.0, 60.0
ROUNDS = 5
AUTO_LAYERS = 2 * AUTO_LAYERS_PER_STEP  # the activations --auto raises in its first two steps
# The auto candidate first measures every layer's error (float and int8 models with every activation
# as an output): fastvit_t8, 200 calibration views, load average 20 on 2 cores: 260 s against 25 s
# for the shipped build. It is tried only when that much time is left.
AUTO_COST = 10.0
COSINE_TIE = 0.0005
# A candidate replaces a shipped config that holds the bar only when faster by more than this: 1-thread
# medians in interleaved rounds repeat within a few percent on a shared CPU (lite0 under load average
# 20: conv-matmul-int8 7.126 ms against shipped 7.167 ms is noise, not a better recipe).
MIN_GAIN = 0.03
PROBE = "shipped, probe session"  # the noise probes' keys among the timed runs
PROBES = 2  # extra sessions of the shipped artifact, timed to measure the noise (see _measure)


@dataclass
class TuneOptions:
    """What ``edgezoo tune`` accepts besides the model, as a notebook would pass it."""

    calib: Path
    holdout: Path | None = None
    budget_s: float = DEFAULT_BUDGET_S
    threads: int = 1
    out_dir: Path = Path("artifacts")
    force: bool = False
    num_calib: int | None = None
    num_holdout: int = DEFAULT_HOLDOUT


@dataclass
class Tried:
    """One candidate's row: what it changed, how it went, and its measurements."""

    recipe: Recipe
    status: str = "not tried (budget)"  # ok | failed: ... | not tried (budget)
    config: QuantConfig | None = None
    built: BuiltCandidate | None = None
    build_s: float | None = None
    latency_ms: float | None = None
    passes: bool = False

    def row(self) -> dict[str, Any]:
        e2e = self.built.end_to_end if self.built else {}
        return {
            "name": self.recipe.name,
            "change": self.recipe.change,
            "status": self.status,
            "engine": self.config.engine["runtime"] if self.config else None,
            "quantizer": self.config.engine["quantizer"] if self.config else None,
            "engine_precision": self.built.engine_precision if self.built else None,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "logit_cosine_mean": e2e.get("logit_cosine_mean"),
            "top1_agreement": e2e.get("top1_agreement"),
            "top1_agreement_margin_0_05": margin_agreement(e2e),
            "images_margin_0_05": margin_images(e2e),
            "holds_bar": self.passes,
            "choosable": self.recipe.choosable,
            "build_s": None if self.build_s is None else round(self.build_s, 1),
        }


@dataclass
class TuneResult:
    artifact: Artifact
    config_path: Path
    table_path: Path
    chosen: str
    rows: list[dict[str, Any]]
    held_bar: bool
    doc: dict[str, Any] = field(default_factory=dict)


def _band(e2e: dict[str, Any]) -> dict[str, Any] | None:
    return band_at(e2e, MARGIN)


def margin_agreement(e2e: dict[str, Any]) -> float | None:
    band = _band(e2e)
    return None if band is None else band["top1_agreement"]


def margin_images(e2e: dict[str, Any]) -> int:
    band = _band(e2e)
    return 0 if band is None else int(band["images"])


def holds_bar(e2e: dict[str, Any], real_weights: bool) -> bool:
    """Cosine >= 0.995 and, on real weights, agreement >= 0.99 where float's top-1 leads by >= 0.05
    (with no such image, the agreement part has nothing to judge)."""
    cos = e2e.get("logit_cosine_mean")
    if cos is None or cos < MIN_COSINE:
        return False
    agreement = margin_agreement(e2e)
    return not real_weights or agreement is None or agreement >= MIN_AGREEMENT


def as_faithful_as_shipped(ok: list[Tried], shipped: Tried) -> list[Tried]:
    """Where nothing holds the bar, the candidates no less faithful than the shipped config (cosine within
    COSINE_TIE, top-1 agreement no lower): one of them is kept rather than a slower "most faithful" one,
    so tune never ends slower than the shipped config for a fidelity gain that is noise."""
    if shipped.built is None or shipped not in ok:
        return [max(ok, key=lambda t: t.built.end_to_end.get("logit_cosine_mean") or 0.0)]  # type: ignore[union-attr]
    ref = shipped.built.end_to_end
    return [
        t
        for t in ok
        if t.built is not None
        and (t.built.end_to_end.get("logit_cosine_mean") or 0.0) >= (ref.get("logit_cosine_mean") or 0.0) - COSINE_TIE
        and (t.built.end_to_end.get("top1_agreement") or 0.0) >= (ref.get("top1_agreement") or 0.0)
    ]


def _auto_config(job: Quantizer, shipped: QuantConfig, first: BuiltCandidate) -> QuantConfig:
    """The shipped config with the consumers of the activations that lose most to int8 in float."""
    raised = set(shipped.overrides()["nodes"])
    # Only the integer ops reading an activation: raising a node that already runs in float (GELU
    # between int8 convs) changes nothing.
    integer = {n.name for n in job.float_model.graph.node if n.op_type in INT8_COMPUTE_OPS}
    chosen: dict[str, str] = {}
    count = 0
    for err in sorted(job.layers(first, against_float=False), key=lambda e: e.local_sqnr_db):
        nodes = [n for n in err.consumers if n in integer and n not in raised and n not in chosen]
        chosen.update(dict.fromkeys(nodes, "float"))
        count += bool(nodes)
        if count >= AUTO_LAYERS:
            break
    if not chosen:
        raise EdgezooError("no layer left to raise to float")
    return shipped.with_node_overrides(chosen)


def _measure(tried: list[Tried], threads: int, seconds: float, x: np.ndarray) -> float | None:
    """Median latency of each built candidate at ``threads``, timed in interleaved rounds.

    PROBES more sessions of the shipped artifact are timed in the same rounds; the shipped config's
    latency is the median of its sessions. Returns the largest relative gap between them (None when
    the shipped config did not build): one file, so the gap is this host's timing noise, the gain a
    candidate must beat. On a Zen 3, one session of a file can run 8-20% slower than another for a
    whole run (lite0: an A/B of 20 rounds had two sessions of the shipped file 8% apart), and one
    probe is too few: a pair of lite0 sessions agreed within 0.05% in a run where another recipe of
    equal speed in that A/B timed 1.24x faster.
    """
    runs: dict[int | str, Any] = {}
    probes = [f"{PROBE} {k}" for k in range(PROBES)]
    for i, t in enumerate(tried):
        if t.built is None or t.config is None:
            continue
        try:
            session = open_session(t.built.artifact, t.config.engine["runtime"], SessionOptions(threads=threads))
            session.run(x)  # a candidate that cannot run is reported as failed, not timed
        except Exception as exc:
            t.status, t.built, t.passes = f"failed to time: {str(exc).strip()[:160]}", None, False
            continue
        runs[i] = partial(session.run, x)
        if i == 0:
            for key in probes:
                probe = open_session(t.built.artifact, t.config.engine["runtime"], SessionOptions(threads=threads))
                runs[key] = partial(probe.run, x)
    if not runs:
        return None
    slice_s = seconds / (ROUNDS * len(runs))
    measured = interleaved_ms(runs, rounds=ROUNDS, per_round=3, slice_s=slice_s)
    shipped = [measured.pop(key) for key in probes if key in measured]
    for i, ms in measured.items():
        tried[i].latency_ms = ms
    if tried[0].latency_ms is None or not shipped:
        return None
    shipped.append(tried[0].latency_ms)
    tried[0].latency_ms = statistics.median(shipped)
    return max(shipped) / min(shipped) - 1.0


def required_gain(noise: float | None) -> float:
    """How much faster than the shipped config a candidate must be to replace it: MIN_GAIN, or the
    measured timing noise where that is larger."""
    return max(MIN_GAIN, noise or 0.0)


def choose(ok: list[Tried], shipped: Tried, noise: float | None) -> Tried:
    """The fastest candidate that holds the bar, else the fastest one as faithful as the shipped config.

    Either way the shipped config is kept unless the pick is faster by more than MIN_GAIN and than
    the measured ``noise``: a gain within what two sessions of one file differ by is not a better
    recipe (a Zen 3: fastvit_t8's 7-bit and 8-bit weights, the same kernels, timed 14% apart).
    Recipes that are not ``choosable`` (shown for comparison) are never picked.
    """
    ok = [t for t in ok if t.recipe.choosable or t is shipped]
    passing = [t for t in ok if t.passes]
    pool = passing or as_faithful_as_shipped(ok, shipped)
    best = min(pool, key=lambda t: t.latency_ms or float("inf"))
    needed = required_gain(noise)
    if shipped in pool and best is not shipped and (best.latency_ms or 0) * (1 + needed) > (shipped.latency_ms or 0):
        return shipped  # within timing noise of the shipped config: keep the measured, documented one
    return best


def tune_artifact(
    source: Artifact, options: TuneOptions, *, host: Host | None = None, source_is_temporary: bool = False
) -> TuneResult:
    """Try the candidate recipes for ``source`` on this host and write the fastest faithful one."""
    host = host or current_host()
    card = model_card_of(source)
    if options.budget_s <= 0:
        raise EdgezooError(f"--budget must be positive, got {options.budget_s}")
    if options.threads < 1:
        raise EdgezooError(f"--threads must be positive, got {options.threads}")
    target = output_path(options.out_dir, card.name)
    yaml_path = options.out_dir / f"{card.name}.tuned.yaml"
    table_path = options.out_dir / f"{card.name}.tune.json"
    if not options.force:
        for path in (target, target.with_suffix(".json"), yaml_path, table_path):
            if path.exists():
                raise EdgezooError(f"{path}: already exists (use --force to replace it)")
    shipped = config_for(None, source)
    real_weights = source.card.get("weights", {}).get("kind") != "random"
    started = time.perf_counter()
    recipes = candidates(shipped, host)
    tried = [Tried(r) for r in recipes]
    measure_s = min(max(options.budget_s * MEASURE_SHARE, MEASURE_MIN_S), MEASURE_MAX_S)
    with tempfile.TemporaryDirectory(prefix="edgezoo-tune-") as tmp:
        job = Quantizer(source, shipped, card, Path(tmp))
        calibration = calibration_set(options.calib, card, options.num_calib or shipped.calibration["count"])
        held_out = held_out_set(options.holdout, Path(options.calib), calibration, card, options.num_holdout)
        if not held_out.crops:
            raise EdgezooError(f"{options.calib}: no held-out images left to judge fidelity (pass --holdout DIR)")
        with steps(f"tune {card.name}", total=len(tried) + 2) as progress:
            progress.next("prepare data")
            job.set_data(calibration, held_out)
            for i, t in enumerate(tried):
                progress.next(t.recipe.name)
                elapsed = time.perf_counter() - started
                estimate = max((x.build_s or 0.0 for x in tried), default=0.0)
                if t.recipe.name == AUTO:  # per-layer errors first: measured at about 10x a build under load
                    estimate = AUTO_COST * (tried[0].build_s or 0.0)
                if i and elapsed + estimate + measure_s > options.budget_s:
                    continue  # stays "not tried (budget)"; the shipped config is always tried
                t0 = time.perf_counter()
                try:
                    if t.recipe.name == AUTO:
                        first = tried[0].built
                        if first is None:
                            raise EdgezooError("the shipped config did not build")
                        t.config = _auto_config(job, shipped, first)
                    else:
                        t.config = t.recipe.config
                    assert t.config is not None
                    t.built = job.build(t.config, f"c{i}")
                    t.status = "ok"
                    t.passes = holds_bar(t.built.end_to_end, real_weights)
                except Exception as exc:  # one candidate failing must not stop the others
                    if isinstance(exc, EngineRefused):  # this host's engine, not the input: say which and why
                        t.status = f"failed: {exc.engine} refuses it on this host: {exc.reason}"[:200]
                    else:
                        text = str(exc).strip().splitlines()
                        t.status = f"failed: {text[0][:160] if text else type(exc).__name__}"
                    log.info("tune candidate %s failed", t.recipe.name, exc_info=True)
                    if i == 0 and isinstance(exc, EdgezooError) and not isinstance(exc, EngineRefused):
                        raise
                t.build_s = time.perf_counter() - t0
            progress.next(f"latency ({options.threads} thread{'s' if options.threads > 1 else ''})")
            x = job.frames[0]
            noise = _measure(tried, options.threads, measure_s, x)
        ok = [t for t in tried if t.built is not None and t.latency_ms is not None]
        if not ok:
            raise EdgezooError(f"{card.name}: no candidate recipe could be built ({tried[0].status})")
        best = choose(ok, tried[0], noise)
        if not best.passes:
            log.warning(
                "tune: no candidate holds the fidelity bar; keeping the fastest one as faithful as the shipped config"
                " (%s)",
                best.recipe.name,
            )
        return _write(job, source, options, host, tried, best, noise, calibration, held_out, started,
                      yaml_path, table_path, source_is_temporary, Path(tmp))  # fmt: skip


def _write(
    job: Quantizer,
    source: Artifact,
    options: TuneOptions,
    host: Host,
    tried: list[Tried],
    best: Tried,
    noise: float | None,
    calibration: Any,
    held_out: Any,
    started: float,
    yaml_path: Path,
    table_path: Path,
    source_is_temporary: bool,
    tmp: Path,
) -> TuneResult:
    assert best.config is not None and best.built is not None
    name = job.card.name
    e2e = best.built.end_to_end
    chosen = best.config
    data = {k: v for k, v in chosen.data.items() if k not in ("description", "measured_on", "confirmed_on")}
    data["engine"] = {**data["engine"], "reduce_range": chosen.reduce_range(host)}  # as decided for this host
    header = (
        f"{name}: chosen by `edgezoo tune` on {host.model} ({host.isa_class}), {now_iso()}.\n"
        f"Candidate '{best.recipe.name}' ({best.recipe.change}): {best.latency_ms:.3f} ms at {options.threads}"
        f" thread(s), logit cosine {e2e['logit_cosine_mean']:.4f}, top-1 agreement {e2e['top1_agreement']:.3f}"
        f" on {e2e['images']} held-out images.\nEvery candidate: {table_path.name}."
    )
    resolved = {
        "description": f"{name} tuned on {host.isa_class} ({best.recipe.name})",
        "measured_on": {"isa": host.isa_class, "cpu": host.model},
        **data,
    }
    staged = tmp / yaml_path.name
    staged.write_text(to_yaml(QuantConfig(resolved, str(yaml_path), (str(yaml_path),)), header), encoding="utf-8")
    final = load_config(staged)  # what quantize --config will read: validated before anything is written
    # Per-layer errors are left to `quantize --config MODEL.tuned.yaml`: they cost up to 10 builds'
    # time (AUTO_COST) and would run past the budget.
    fidelity = report(e2e, [], "float export (onnxruntime) on the same decoded pixels", final.engine["runtime"])
    fidelity["engine_precision"] = best.built.engine_precision
    fidelity["layers_note"] = "not measured by tune: edgezoo quantize --config MODEL.tuned.yaml reports them"
    card = int8_card(job, best.built, final, calibration, held_out, fidelity, [])
    card["quantization"]["config_file"] = str(yaml_path)
    card["quantization"]["config_chain"] = [str(yaml_path)]
    if source_is_temporary:
        card["source_artifact"]["file"] = None
        card["source_artifact"]["note"] = "exported by this command (run edgezoo export to keep it)"
    rows = [t.row() for t in tried]
    doc = {
        "schema": "edgezoo.tune/1",
        "model": name,
        "created": now_iso(),
        "host": host.to_dict(),
        "threads": options.threads,
        "budget_s": options.budget_s,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "bar": {"logit_cosine_min": MIN_COSINE, "top1_agreement_min": MIN_AGREEMENT, "float_margin": MARGIN},
        "real_weights": source.card.get("weights", {}).get("kind") != "random",
        "held_out_images": len(held_out.crops),
        "calibration_images": len(calibration.crops),
        "chosen": best.recipe.name,
        "held_bar": best.passes,
        # Three sessions of the shipped artifact, timed in the same rounds: their largest relative gap.
        "latency_noise": None if noise is None else round(noise, 3),
        "min_gain": round(required_gain(noise), 3),
        "shipped_config": tried[0].recipe.config.source if tried[0].recipe.config else None,
        "candidates": rows,
    }
    keys = ("chosen", "held_bar", "threads", "budget_s", "elapsed_s", "bar", "latency_noise", "min_gain")
    card["tune"] = {k: doc[k] for k in keys}
    card["tune"]["table"] = table_path.name
    artifact = write_artifact(best.built.model, card, options.out_dir, f"{name}.int8")
    with atomic_path(yaml_path) as out:
        out.write_text(staged.read_text(encoding="utf-8"), encoding="utf-8")
    write_json(table_path, doc)
    return TuneResult(artifact, yaml_path, table_path, best.recipe.name, rows, best.passes, doc)


def tune(
    model: str,
    options: TuneOptions,
    *,
    weights: Path | None = None,
    pretrained: bool = False,
    host: Host | None = None,
) -> TuneResult:
    """``edgezoo tune MODEL|ARTIFACT``: a float export as given, or a zoo model exported for the run."""
    from edgezoo.artifact import is_artifact_path
    from edgezoo.quantize.api import float_source

    with tempfile.TemporaryDirectory(prefix="edgezoo-export-") as tmp:
        source = float_source(model, weights, pretrained, Path(tmp))
        return tune_artifact(source, options, host=host, source_is_temporary=not is_artifact_path(model))
