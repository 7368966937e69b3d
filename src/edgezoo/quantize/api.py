"""``edgezoo quantize`` as a Python API: float artifact + config + image folder -> int8 artifact.

Order of work, chosen so that nothing is written unless everything succeeded: check the output
paths, read the config, calibrate, quantize, add the front end, verify the overrides in the
engine's optimized graph, measure fidelity on held-out images (optionally raise the worst layers,
``auto``), and only then write ``MODEL.int8.onnx`` and ``MODEL.int8.json`` atomically.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgezoo.agreement import MARGIN_BANDS, band_at, compare_logits
from edgezoo.artifact import Artifact, command_line, now_iso, read_artifact, versions, write_artifact
from edgezoo.errors import EdgezooError, EngineRefused
from edgezoo.export.rewrite import rewrite_grouped_conv
from edgezoo.host import current_host, host_record
from edgezoo.inputs.preprocess import find_images
from edgezoo.inputs.samples import sample_photos
from edgezoo.progress import steps
from edgezoo.quantize import frontend
from edgezoo.quantize.calibration import ImageSet, calibration_set, load_crops
from edgezoo.quantize.config import QuantConfig, load_config
from edgezoo.quantize.fidelity import LayerError, layer_errors, report
from edgezoo.quantize.graph import OverrideCheck, quantize_graph, resolve_overrides, verify_overrides
from edgezoo.runtime.engines import SessionOptions, engine_precision, open_session
from edgezoo.zoo.registry import ModelCard, card_from_dict

log = logging.getLogger(__name__)
DEFAULT_HOLDOUT = 50
DEFAULT_CONFIG = "default"
# Card-less models whose graph has one of these op types get that generic config instead.
GENERIC_BY_OP = (("LayerNormalization", "default_transformer"),)
AUTO_MAX_STEPS = 6
# --auto's stop rule counts the held-out images whose float top-1 leads by at least this much (the
# issue-14 fidelity bar); 0 counts every image, near-ties included.
DEFAULT_TARGET_MARGIN = 0.05
AUTO_LAYERS_PER_STEP = 2
LATENCY_RUNS = 30


@dataclass
class Outcome:
    """What a quantization produced, for the CLI to print."""

    artifact: Artifact
    fidelity: dict[str, Any]
    layers: list[LayerError]
    checks: list[OverrideCheck]
    calibration: ImageSet
    held_out: ImageSet
    auto_steps: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def output_path(out_dir: Path, model: str) -> Path:
    return out_dir / f"{model}.int8.onnx"


def float_source(arg: str, weights: Path | None, pretrained: bool, workdir: Path) -> Artifact:
    """The float export to quantize: an artifact path as given, or a zoo model exported into ``workdir``."""
    from edgezoo.artifact import is_artifact_path

    if is_artifact_path(arg):
        if weights is not None or pretrained:
            raise EdgezooError(f"{arg}: --weights/--pretrained apply to a model name, not to an artifact")
        source = read_artifact(arg)
    else:
        from edgezoo.export.to_onnx import export
        from edgezoo.zoo.registry import get_card

        source, _ = export(get_card(arg), weights=weights, pretrained=pretrained, out_dir=workdir)
    card = source.card
    if (
        card.get("kind") != "export"
        or card.get("precision") != "fp32"
        or card["input"].get("format") != "rgb_normalized"
    ):
        raise EdgezooError(
            f"{source.onnx_path}: not an edgezoo float export (kind {card.get('kind')!r}); quantize that"
        )
    return source


def model_card_of(source: Artifact) -> ModelCard:
    return card_from_dict(source.card["model_card"], f"{source.card_path} model_card")


def generic_config_name(model: onnx.ModelProto) -> str:
    """The generic config for a card-less model: the first of :data:`GENERIC_BY_OP` whose op type
    the float graph has, else ``default``. Which ops an int8 recipe should quantize depends on the
    architecture (configs/default_transformer.yaml has the measurements), and the graph says which."""
    ops = {n.op_type for n in model.graph.node}
    return next((name for op, name in GENERIC_BY_OP if op in ops), DEFAULT_CONFIG)


def config_for(config_arg: str | Path | None, source: Artifact) -> QuantConfig:
    """``--config`` if given, else the config the model card names, else the generic config for
    the float export's graph (:func:`generic_config_name`)."""
    chosen = config_arg or model_card_of(source).quantize_config
    return load_config(chosen or generic_config_name(onnx.load(source.onnx_path, load_external_data=False)))


def held_out_set(
    holdout_dir: Path | None, calib_dir: Path, calibration: ImageSet, card: ModelCard, count: int
) -> ImageSet:
    """Images never used for calibration: ``holdout_dir``, else the calibration folder's unused
    images, else the photos bundled with matplotlib/scikit-image. Files whose bytes equal a
    calibration file are never used, whatever their name."""
    used = set(calibration.digests)
    if holdout_dir is not None:
        files = find_images(holdout_dir)
        if not files:
            raise EdgezooError(f"{holdout_dir}: no images found for the held-out set")
        return load_crops(files, card, count, "held-out images", exclude=used)
    taken = set(calibration.files)
    rest = [p for p in find_images(calib_dir) if p not in taken]
    images = load_crops(rest, card, count, "held-out images", exclude=used) if rest else None
    if images is None or not images.crops:
        images = load_crops(sample_photos(), card, count, "held-out images", exclude=used)
    return images


# --------------------------------------------------------------------------------------------
# Running candidates
# --------------------------------------------------------------------------------------------


def _logits(artifact: Artifact, engine: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return _run(artifact, engine, inputs)[0]


def _run(artifact: Artifact, engine: str, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], str | None]:
    """Logits, and the precision the engine ran the float operators in (OpenVINO says; else None)."""
    session = open_session(artifact, engine)
    return [session.run(x) for x in inputs], engine_precision(session)


def latency_ms(artifact: Artifact, engine: str, x: np.ndarray, runs: int = LATENCY_RUNS) -> float:
    """Median single-thread latency: what ``--auto`` reports per step (noisy on a shared CPU)."""
    session = open_session(artifact, engine, SessionOptions(threads=1))
    for _ in range(5):
        session.run(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(x)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


@dataclass
class BuiltCandidate:
    """One built int8 graph and what was measured of it; `edgezoo tune` builds and compares several."""

    model: onnx.ModelProto  # front end + quantized model
    artifact: Artifact  # written to a temporary folder for the engines
    overrides: dict[str, str]
    checks: list[OverrideCheck]
    end_to_end: dict[str, Any]
    vs_rgb: dict[str, Any] | None = None  # NV12 only: against float on the original RGB crops
    engine_precision: str | None = None  # what the engine ran the float operators in


class Quantizer:
    """One quantization job; ``build`` can run several times (``--auto``) on the same data."""

    def __init__(self, source: Artifact, config: QuantConfig, card: ModelCard, workdir: Path) -> None:
        self.source, self.config, self.card, self.workdir = source, config, card, workdir
        self.spec = frontend.InputSpec.from_config(config.input, card)
        self.front = frontend.FrontEnd(self.spec, card)
        model = onnx.load(source.onnx_path)
        # Exports since 2026-11-22 come rewritten already (their card lists it); older ones get it here.
        self.rewrites: list[str] = list(source.card.get("rewrites", {}).get("grouped_conv_to_depthwise", []))
        if config.engine["rewrite_grouped_conv"]:
            model, own = rewrite_grouped_conv(model)
            self.rewrites += own
        self.float_model = model
        self.engine = config.engine["runtime"]
        self.calib: list[np.ndarray] = []
        self.frames: list[np.ndarray] = []
        self.reference: list[np.ndarray] = []
        self.rgb_reference: list[np.ndarray] | None = None

    def set_data(self, calibration: ImageSet, held_out: ImageSet) -> None:
        # The quantized core is calibrated on the same float tensors whatever the input type: the
        # crops as RGB, normalised with the config's mean/scale. NV12, RGB and BGR artifacts of one
        # config then share a bit-identical int8 core and differ only in their float front end
        # (for NV12: chroma subsampling), instead of getting scales from differently decoded pixels.
        core_front = frontend.FrontEnd(frontend.core_spec(self.spec), self.card)
        self.calib = [core_front.model_input(c) for c in calibration.crops]
        self.frames = [self.front.frames(c) for c in held_out.crops]
        # The float export on the very pixels the int8 model's front end produces.
        self.reference = _logits(self.source, "onnxruntime", [self.front.model_input(c) for c in held_out.crops])
        if self.spec.type == "nv12" and held_out.crops:
            # NV12 carries chroma at half resolution: on near-tie images that alone moves top-1 in
            # float. Measure it apart, so users see what the input format costs and what int8 does.
            rgb = [core_front.model_input(c) for c in held_out.crops]
            self.rgb_reference = _logits(self.source, "onnxruntime", rgb)

    def build(self, config: QuantConfig, tag: str) -> BuiltCandidate:
        overrides = resolve_overrides(self.float_model, config)
        quantized = frontend.prepend(quantize_graph(self.float_model, self.calib, config, overrides), self.spec)
        hint = config.engine["precision_hint"]  # overrides and fidelity are checked as deployed, with it
        engine = config.engine["runtime"]  # the job's, except for the candidates ``edgezoo tune`` tries
        card = {**self.source.card, "kind": "quantized", "precision": "int8", "engine": engine}
        card["precision_hint"] = hint
        card["input"] = self.spec.card(self.source.card["input"]["name"])
        artifact = write_artifact(quantized, card, self.workdir / tag, self.card.name + ".int8")
        try:
            # One OpenVINO compile serves the override check and the fidelity run (same file, same hint).
            session = open_session(artifact, engine) if self.frames or engine == "openvino" else None
            compiled = getattr(session, "compiled", None)
            checks = verify_overrides(artifact.onnx_path, engine, self.float_model, overrides, hint, compiled)
            broken = [c for c in checks if not c.held]
            if broken:
                c = broken[0]
                raise EdgezooError(
                    f"{config.source}: override {c.node} ({c.op_type} -> {c.precision}) does not hold in {engine}'s"
                    f" optimized graph: {c.detail}; nothing written"
                )
            got = [session.run(f) for f in self.frames] if session is not None else []
            precision = engine_precision(session) if session is not None and self.frames else None
        except EngineRefused as exc:  # the temporary file's path would mean nothing to the user
            raise EngineRefused(
                f"{config.source}: {exc.engine} cannot run the int8 graph it makes on this host"
                f" ({current_host().label}): {exc.reason}; set engine.runtime: onnxruntime in a config, or run"
                " edgezoo tune; nothing written",
                exc.engine,
                exc.reason,
            ) from exc
        vs_rgb = compare_logits(self.rgb_reference, got) if self.rgb_reference is not None else None
        end_to_end = compare_logits(self.reference, got)
        return BuiltCandidate(quantized, artifact, overrides, checks, end_to_end, vs_rgb, precision)

    def input_format_cost(self) -> dict[str, Any] | None:
        """Float on the decoded NV12 pixels against float on the RGB crops (no int8 involved)."""
        return compare_logits(self.rgb_reference, self.reference) if self.rgb_reference is not None else None

    def layers(self, candidate: BuiltCandidate, against_float: bool = True) -> list[LayerError]:
        """Per-layer errors on the held-out frames (``against_float=False``: only the local SQNR)."""
        return layer_errors(frontend.prepend(self.float_model, self.spec), candidate.model, self.frames, against_float)


def agreement_at(fidelity: dict[str, Any], margin: float) -> float:
    """Top-1 agreement among the held-out images whose float top-1 leads by at least ``margin``
    (softmax probability), or among all images where none does. A near-tie's top-1 flips under any
    change of arithmetic (bf16 does it too), so --auto judges the images where a flip is a defect."""
    band = band_at(fidelity, margin)
    return float(band["top1_agreement"] if band else fidelity["top1_agreement"] or 0.0)


def _auto(
    job: Quantizer,
    config: QuantConfig,
    first: BuiltCandidate,
    target: float,
    first_layers: list[LayerError],
    margin: float,
) -> tuple[BuiltCandidate, QuantConfig, list[dict[str, Any]]]:
    """Raise the layers that lose most to quantization to float until top-1 agreement on the images
    with float margin >= ``margin`` (:func:`agreement_at`) reaches ``target``.

    Each step sets the nodes reading the two activations with the lowest ``local_sqnr_db`` to float,
    re-quantizes and re-measures. Returns the first step that meets the target; if none does, the
    step with the best agreement (then the best cosine, then the lowest latency), with a warning.
    ``first_layers`` (the caller's per-layer errors of ``first``) ranks step 1; later steps measure
    only the local SQNR they rank by.
    """
    x = job.frames[0]
    engine = config.engine["runtime"]
    tried: list[tuple[BuiltCandidate, QuantConfig, float]] = [(first, config, latency_ms(first.artifact, engine, x))]
    base_ms = tried[0][2]
    history = [_step(0, [], first, base_ms, base_ms, margin)]
    current, current_config = first, config
    for step in range(1, AUTO_MAX_STEPS + 1):
        if agreement_at(current.end_to_end, margin) >= target:
            break
        raised = set(current_config.overrides()["nodes"])
        chosen: dict[str, str] = {}
        layers = first_layers if current is first else job.layers(current, against_float=False)
        for err in sorted(layers, key=lambda e: e.local_sqnr_db):
            for node in err.consumers:
                if node and node not in raised and node not in chosen and not node.startswith(frontend.PREFIX):
                    chosen[node] = "float"
            if len(chosen) >= AUTO_LAYERS_PER_STEP:
                break
        if not chosen:
            break
        current_config = current_config.with_node_overrides(chosen)
        current = job.build(current_config, f"auto{step}")
        ms = latency_ms(current.artifact, engine, x)
        tried.append((current, current_config, ms))
        history.append(_step(step, sorted(chosen), current, ms, base_ms, margin))
    if agreement_at(current.end_to_end, margin) >= target:
        return current, current_config, history

    def rank(item: tuple[BuiltCandidate, QuantConfig, float]) -> tuple[float, float, float]:
        e2e = item[0].end_to_end
        return (-agreement_at(e2e, margin), -(e2e["logit_cosine_mean"] or 0.0), item[2])

    best = min(tried, key=rank)
    kept = tried.index(best)
    log.warning("--auto: target %.3f not reached in %d steps; keeping step %d", target, len(tried) - 1, kept)
    for entry in history:
        entry["kept"] = entry["step"] == kept
    return best[0], best[1], history


def _step(
    step: int, raised: list[str], candidate: BuiltCandidate, ms: float, base_ms: float, margin: float
) -> dict[str, Any]:
    return {
        "step": step,
        "raised": raised,
        "top1_agreement": candidate.end_to_end["top1_agreement"],
        "top1_agreement_at_target_margin": agreement_at(candidate.end_to_end, margin),
        "target_margin": margin,
        "logit_cosine_mean": candidate.end_to_end["logit_cosine_mean"],
        "latency_ms": round(ms, 3),
        "latency_delta_ms": round(ms - base_ms, 3),
    }


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def quantize_artifact(
    source: Artifact,
    calib_dir: Path,
    *,
    config: QuantConfig,
    num_calib: int | None = None,
    holdout_dir: Path | None = None,
    num_holdout: int = DEFAULT_HOLDOUT,
    out_dir: Path = Path("artifacts"),
    force: bool = False,
    auto: bool = False,
    target_agreement: float = 0.99,
    target_margin: float = DEFAULT_TARGET_MARGIN,
    source_is_temporary: bool = False,
) -> Outcome:
    """Quantize ``source`` and write ``out_dir/MODEL.int8.onnx`` + ``.json``; see the module doc."""
    card = model_card_of(source)
    target = output_path(out_dir, card.name)
    if not force:
        for path in (target, target.with_suffix(".json")):
            if path.exists():
                raise EdgezooError(f"{path}: already exists (use --force to replace it)")
    if num_calib is not None and num_calib < 1:
        raise EdgezooError(f"--num-calib must be positive, got {num_calib}")
    if not 0.0 < target_agreement <= 1.0:
        raise EdgezooError(f"--target-agreement must be in (0, 1], got {target_agreement}")
    if target_margin not in MARGIN_BANDS:
        bands = ", ".join(f"{b:g}" for b in MARGIN_BANDS)
        raise EdgezooError(f"--target-margin must be one of {bands}, got {target_margin:g}")
    count = num_calib or config.calibration["count"]
    with tempfile.TemporaryDirectory(prefix="edgezoo-int8-") as tmp:
        job = Quantizer(source, config, card, Path(tmp))
        resolve_overrides(job.float_model, config)  # fail on unknown node names before any work
        calibration = calibration_set(calib_dir, card, count)
        held_out = held_out_set(holdout_dir, Path(calib_dir), calibration, card, num_holdout)
        if not held_out.crops:
            log.warning("no held-out images left: fidelity is not measured (pass --holdout DIR)")
        with steps(f"quantize {card.name}", total=3) as progress:
            progress.next("prepare data")
            job.set_data(calibration, held_out)
            progress.next(f"quantize ({config.engine['quantizer']})")
            candidate = job.build(config, "int8")
            progress.next("per-layer error")
            layers = job.layers(candidate)
        history: list[dict[str, Any]] = []
        final_config = config
        if auto and job.frames:
            first = candidate
            candidate, final_config, history = _auto(job, config, candidate, target_agreement, layers, target_margin)
            if candidate is not first:
                layers = job.layers(candidate)
        fidelity = report(
            candidate.end_to_end, layers, "float export (onnxruntime) on the same decoded pixels", job.engine
        )
        fidelity["engine_precision"] = candidate.engine_precision
        if candidate.vs_rgb is not None:
            fidelity["vs_float_on_rgb"] = candidate.vs_rgb
            fidelity["nv12_input_cost_in_float"] = job.input_format_cost()
        card_dict = int8_card(job, candidate, final_config, calibration, held_out, fidelity, history)
        if source_is_temporary:  # exported by this command from a model name, and not kept
            card_dict["source_artifact"]["file"] = None
            card_dict["source_artifact"]["note"] = "exported by this command (run edgezoo export to keep it)"
        artifact = write_artifact(candidate.model, card_dict, out_dir, f"{card.name}.int8")
    return Outcome(artifact, fidelity, layers, candidate.checks, calibration, held_out, history)


def int8_card(  # the int8 artifact's JSON card; `edgezoo tune` writes its winner's with it
    job: Quantizer,
    candidate: BuiltCandidate,
    config: QuantConfig,
    calibration: ImageSet,
    held_out: ImageSet,
    fidelity: dict[str, Any],
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    src = job.source.card
    opset = next((o.version for o in candidate.model.opset_import if o.domain in ("", "ai.onnx")), None)
    preprocessing = dict(src["preprocessing"])
    if job.spec.type != "float":
        preprocessing["in_model"] = "colour conversion and normalisation run inside the model; resize/crop do not"
    quantization: dict[str, Any] = {
        "config": config.data,
        "config_file": config.source,
        "config_chain": list(config.chain),
        "quantizer": config.engine["quantizer"],
        "calibration": calibration.summary(config.calibration["method"]),
        "held_out": {"count": len(held_out.crops), "sha256": held_out.sha256, "skipped": len(held_out.skipped)},
        "overrides": [c.to_dict() for c in candidate.checks],
        "rewrites": {"grouped_conv_to_depthwise": job.rewrites},
        "fidelity": fidelity,
        # 7-bit weights where this host's int8 arithmetic could saturate (config.py, docs/tune.md):
        # an artifact quantized on an AVX2-only host differs from one made on a VNNI host.
        "reduce_range": {"weights_7_bit": config.reduce_range(), "setting": config.engine["reduce_range"]},
        "measured_on": config.measured_on,
        "confirmed_on": config.confirmed_on,
    }
    if history:
        quantization["auto"] = history
    return {
        "kind": "quantized",
        "model": src["model"],
        "timm_name": src.get("timm_name"),
        "precision": "int8",
        "engine": config.engine["runtime"],
        "precision_hint": config.engine["precision_hint"],
        "created": now_iso(),
        "command": command_line(),
        "weights": src["weights"],
        "opset": opset,
        "input": job.spec.card(src["input"]["name"]),
        "output": src["output"],
        "preprocessing": preprocessing,
        "params": src.get("params"),
        "quantization": quantization,
        "source_artifact": {
            "file": str(job.source.onnx_path),
            "sha256": src.get("sha256"),
            "kind": src.get("kind"),
            "precision": src.get("precision"),
            "created": src.get("created"),
        },
        "versions": versions(),
        # The host it was quantized and its fidelity measured on; predict/bench/eval compare its ISA
        # class with theirs and say so when they differ.
        "host": host_record(),
        "model_card": src["model_card"],
    }
