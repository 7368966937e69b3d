"""The ``edgezoo`` command: a thin layer over the Python API, one verb per pipeline stage."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgezoo.errors import EdgezooError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Efficient vision transformers from timm: export, quantize, run, benchmark and evaluate them.",
)
out = Console()

WeightsOpt = Annotated[
    Path | None,
    typer.Option("--weights", help="Local checkpoint: .safetensors, or .pth/.pt/.bin (loaded weights_only)."),
]
PretrainedOpt = Annotated[
    bool, typer.Option("--pretrained", help="timm's pretrained weights (hub download, or the local cache).")
]
OutDirOpt = Annotated[Path, typer.Option("-o", "--out-dir", help="Folder for the artifacts.")]
BackendOpt = Annotated[str, typer.Option("--backend", help="local (this machine) or ray (a Ray cluster).")]
RayAddressOpt = Annotated[
    str | None,
    typer.Option("--ray-address", help="Ray cluster to use (default: $RAY_ADDRESS, else start one here)."),
]


def _fmt(value: object, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


@app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the model cards as JSON.")] = False,
) -> None:
    """The zoo's models by family, with the RDK X5 figures; zoo models edgezoo cannot build, with why."""
    from edgezoo.zoo.registry import unavailable_models, zoo_cards

    cards = list(zoo_cards().values())
    missing = unavailable_models()
    if as_json:
        rows = [{**c.to_dict(), "available": True, "reason": None} for c in cards]
        print(json.dumps(rows + [m.to_dict() for m in missing], indent=2))
        return
    wide = out.width >= 120  # below that the RDK name column is left out so the figures stay whole
    # Below 100 columns the family gets a row of its own instead of a column, so that model names and
    # every figure still fit an 80-column terminal uncut.
    narrow = out.width < 100
    table = Table(
        title="edgezoo models by family, input 224x224 unless @ says (any timm classifier name works too)",
        show_edge=not narrow,
    )
    # Family and model names are what a reader scans for: never cut them, squeeze the figures instead.
    if not narrow:
        table.add_column("family", style="bold", no_wrap=True, min_width=max(len(c.family) for c in cards))
    table.add_column("model", no_wrap=True, min_width=max(len(c.name) for c in cards))
    if wide:
        table.add_column("RDK name", no_wrap=True)
    for col, width in (("params\nM", 5), ("GMACs", 5), ("timm\nTop-1", 5), ("X5\nfloat", 5),
                       ("X5\nint8", 5), ("X5 ms\n1t", 5)):  # fmt: skip
        table.add_column(col, justify="right", no_wrap=True, min_width=width)
    groups: dict[str, list] = {}
    for item in [*cards, *missing]:
        groups.setdefault(item.family, []).append(item)
    for family, items in groups.items():
        if narrow:
            table.add_row(f"[bold]{family}[/]", *[""] * 6)
        for i, c in enumerate(items):
            available = not hasattr(c, "reason")
            rdk = c.reference.get("rdk_x5", {}) if available else c.rdk_x5
            if available:
                size = "x".join(map(str, c.img_size))
                name = c.name + ("" if size == "224x224" else f" @{c.img_size[0]}")  # the zoo deploys at 224
            else:
                name = f"[dim]{c.rdk_name}: not available[/]"
            cells = [("  " if narrow else "") + name]
            if not narrow:
                cells.insert(0, family if i == 0 else "")
            if wide:
                cells.append(c.rdk_name or "-")
            cells += [
                _fmt(c.params and c.params / 1e6, ".2f") if available else _fmt(rdk.get("params_m"), ".2f"),
                _fmt(c.gmacs, ".2f") if available else "-",
                _fmt(c.reference.get("timm", {}).get("top1"), ".2f") if available else "-",
                _fmt(rdk.get("float_top1"), ".2f"),
                _fmt(rdk.get("quant_top1"), ".2f"),
                _fmt(rdk.get("latency_1t_ms"), ".2f"),
            ]
            table.add_row(*cells, end_section=i == len(items) - 1)
    out.print(table)
    reasons: dict[str, list[str]] = {}
    for m in missing:
        reasons.setdefault(m.reason, []).append(m.rdk_name)
    for reason, names in reasons.items():
        out.print(f"not available: {', '.join(names)}: {reason}", highlight=False)
    out.print("X5: the RDK Model Zoo's board figures (BPU int8, 224x224 NV12); X5 ms: 1 thread.", highlight=False)


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Zoo model (see `edgezoo list`) or any timm classifier name.")],
    weights: WeightsOpt = None,
    pretrained: PretrainedOpt = False,
    img_size: Annotated[int | None, typer.Option("--img-size", help="Input size (default: the card's).")] = None,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset, 11..20.")] = 17,
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch", help="Dynamic batch axis (servers).")] = False,
    no_rewrite: Annotated[
        bool, typer.Option("--no-rewrite", help="Keep grouped convolutions as PyTorch wrote them (no exact rewrite).")
    ] = False,
    out_dir: OutDirOpt = Path("artifacts"),
) -> None:
    """Export a model to ONNX (reparameterized, simplified, checked against PyTorch) with its card."""
    from edgezoo.export.to_onnx import export as run_export
    from edgezoo.zoo.registry import get_card

    artifact, checks = run_export(
        get_card(model),
        weights=weights,
        pretrained=pretrained,
        img_size=img_size,
        opset=opset,
        dynamic_batch=dynamic_batch,
        rewrite=not no_rewrite,
        out_dir=out_dir,
    )
    card = artifact.card
    params = card["params"]
    w = card["weights"]
    out.print(f"[bold]{artifact.onnx_path}[/] and {artifact.card_path.name}")
    out.print(f"  weights: {w['kind']}" + (f" (seed {w['seed']})" if w["kind"] == "random" else f" {w.get('path')}"))
    out.print(f"  input {card['input']['name']} {card['input']['shape']} float32 NCHW, opset {card['opset']}")
    out.print(
        f"  params: PyTorch {params['pytorch']:,}, reparameterized {params['pytorch_reparameterized']:,},"
        f" ONNX initializers {params['onnx_initializers']:,}"
    )
    if rewritten := card["rewrites"]["grouped_conv_to_depthwise"]:
        out.print(f"  {len(rewritten)} grouped convolutions rewritten as Gather + depthwise (exact, faster)")
    for c in checks:
        out.print(
            f"  check vs PyTorch on {c.input}: max abs diff {c.max_abs_diff:.2e}, cosine {c.cosine:.7f},"
            f" top-1 {c.top1_torch} -> {c.top1_onnx}"
        )


@app.command()
def quantize(
    model: Annotated[str, typer.Argument(help="Zoo model name (exported first) or a float export MODEL.onnx.")],
    calib: Annotated[Path, typer.Option("--calib", help="Folder of calibration images (recursive).")],
    weights: WeightsOpt = None,
    pretrained: PretrainedOpt = False,
    config: Annotated[
        str | None, typer.Option("--config", help="Config YAML path or packaged name (default: the card's).")
    ] = None,
    num_calib: Annotated[int | None, typer.Option("--num-calib", help="Calibration images (default: config).")] = None,
    holdout: Annotated[
        Path | None, typer.Option("--holdout", help="Held-out images for the fidelity report (default: see docs).")
    ] = None,
    num_holdout: Annotated[int, typer.Option("--num-holdout", help="Held-out images to use at most.")] = 50,
    auto: Annotated[
        bool, typer.Option("--auto", help="Raise the worst layers to float until the target is met.")
    ] = False,
    target_agreement: Annotated[
        float, typer.Option("--target-agreement", help="Top-1 agreement --auto aims for.")
    ] = 0.99,
    target_margin: Annotated[
        float,
        typer.Option(
            "--target-margin",
            help="--auto counts images whose float top-1 leads by at least this (0, 0.05, 0.1, 0.2; 0: all).",
        ),
    ] = 0.05,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing MODEL.int8.onnx/.json.")] = False,
    out_dir: OutDirOpt = Path("artifacts"),
) -> None:
    """Quantize a float export to INT8 with its config; print the fidelity report and write the artifact."""
    import tempfile

    from edgezoo.artifact import is_artifact_path
    from edgezoo.quantize.api import config_for, float_source, quantize_artifact
    from edgezoo.quantize.config import load_config

    given = load_config(config) if config else None  # a bad --config fails before the export
    with tempfile.TemporaryDirectory(prefix="edgezoo-export-") as tmp:
        source = float_source(model, weights, pretrained, Path(tmp))
        cfg = given or config_for(None, source)
        result = quantize_artifact(
            source,
            calib,
            config=cfg,
            num_calib=num_calib,
            holdout_dir=holdout,
            num_holdout=num_holdout,
            out_dir=out_dir,
            force=force,
            auto=auto,
            target_agreement=target_agreement,
            target_margin=target_margin,
            source_is_temporary=not is_artifact_path(model),
        )
    _print_quantized(result)


def _print_quantized(result) -> None:  # type: ignore[no-untyped-def]
    card = result.artifact.card
    q = card["quantization"]
    f = result.fidelity
    out.print(f"[bold]{result.artifact.onnx_path}[/] and {result.artifact.card_path.name}")
    ran = f" (float operators in {f['engine_precision']})" if f.get("engine_precision") else ""
    out.print(f"  config {q['config_file']}, quantizer {q['quantizer']}, engine {card['engine']}{ran}")
    out.print(
        f"  input {card['input']['name']} {card['input']['shape']} {card['input']['dtype']} {card['input']['format']}"
    )
    cal = q["calibration"]
    out.print(f"  calibration: {cal['count']} images ({cal['method']}), {cal['skipped']} unreadable skipped")
    for c in result.checks:
        out.print(f"  override {c.node} ({c.op_type}) -> {c.precision}: {'held' if c.held else 'BROKEN'}, {c.detail}")
    if f["images"]:
        out.print(
            f"  fidelity on {f['images']} held-out images vs float: top-1 agreement {f['top1_agreement']:.3f},"
            f" top-5 overlap {f['top5_overlap']:.3f}, logit cosine mean {f['logit_cosine_mean']:.4f}"
            f" (min {f['logit_cosine_min']:.4f})"
        )
    if f.get("disagreements_float_margin_max") is not None:
        out.print(
            f"  {f['top1_disagreements']} top-1 change(s), all on images where float's top two classes were"
            f" within {f['disagreements_float_margin_max']:.3f} in probability (median over the held-out"
            f" images: {f['float_margin_median']:.3f})"
        )
        clear = [b for b in f.get("top1_agreement_by_float_margin", []) if b["float_margin_at_least"] > 0]
        if clear:
            out.print(
                "  top-1 agreement by float margin: "
                + ", ".join(
                    f">= {b['float_margin_at_least']}: {b['top1_agreement']:.3f} ({b['images']} images)" for b in clear
                )
            )
    if f.get("vs_float_on_rgb"):
        rgb, cost = f["vs_float_on_rgb"], f["nv12_input_cost_in_float"]
        out.print(
            f"  against float on the RGB images (what NV12's half-resolution chroma adds): top-1 agreement"
            f" {rgb['top1_agreement']:.3f}, cosine {rgb['logit_cosine_mean']:.4f}; NV12 alone, in float:"
            f" {cost['top1_agreement']:.3f}, {cost['logit_cosine_mean']:.4f}"
        )
    table = Table(title="per-layer error, worst first (quantized activations vs float)")
    for col in ("tensor", "read by", "bits", "SQNR dB", "cosine", "own SQNR dB"):
        table.add_column(col, no_wrap=col != "tensor", justify="left" if col in ("tensor", "read by") else "right")
    for e in result.layers[:12]:
        table.add_row(
            e.tensor,
            ",".join(sorted(set(e.consumer_types))),
            str(e.bits),
            f"{e.sqnr_db:.1f}",
            f"{e.cosine:.4f}",
            f"{e.local_sqnr_db:.1f}",
        )
    if result.layers:
        out.print(table)
    if result.auto_steps:
        steps = Table(title="--auto: layers raised to float, and what each step cost")
        margin = result.auto_steps[0]["target_margin"]
        band = f"at margin >= {margin:g}"
        for col in ("step", "raised", "top-1 agreement", band, "logit cosine", "latency ms", "delta ms"):
            steps.add_column(col, justify="left" if col == "raised" else "right")
        for s in result.auto_steps:
            steps.add_row(
                str(s["step"]) + (" kept" if s.get("kept") else ""),
                ", ".join(s["raised"]) or "-",
                f"{s['top1_agreement']:.3f}",
                f"{s['top1_agreement_at_target_margin']:.3f}",
                f"{s['logit_cosine_mean']:.4f}",
                f"{s['latency_ms']:.2f}",
                f"{s['latency_delta_ms']:+.2f}",
            )
        out.print(steps)


@app.command()
def rdk(
    model: Annotated[str, typer.Argument(help="Zoo model or timm name, or a float export MODEL.onnx.")],
    calib: Annotated[Path, typer.Option("--calib", help="Folder of calibration images (recursive).")],
    weights: WeightsOpt = None,
    pretrained: PretrainedOpt = False,
    march: Annotated[str, typer.Option("--march", help="bayes-e (RDK X5) or bernoulli2 (RDK X3).")] = "bayes-e",
    num_calib: Annotated[int, typer.Option("--num-calib", help="Calibration images to write.")] = 100,
    config: Annotated[
        str | None, typer.Option("--config", help="Quantization config (edgezoo or RDK YAML; default: the card's).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing workspace folder.")] = False,
    out_dir: Annotated[Path, typer.Option("-o", "--out-dir", help="Folder for the workspace.")] = Path("artifacts/rdk"),
) -> None:
    """Write a ready hb_mapper workspace for an RDK board: opset-11 ONNX, YAML, calibration data, scripts."""
    from edgezoo.rdk.workspace import write_workspace

    ws = write_workspace(
        model,
        calib,
        weights=weights,
        pretrained=pretrained,
        march=march,
        num_calib=num_calib,
        config=config,
        out_dir=out_dir,
        force=force,
    )
    out.print(f"[bold]{ws.folder}[/] ({ws.march}), weights: {ws.weights}")
    for c in ws.checks:
        out.print(f"  opset-11 ONNX vs PyTorch on {c.input}: max abs diff {c.max_abs_diff:.2e}, cosine {c.cosine:.7f}")
    out.print(f"  {len(ws.calibration.crops)} calibration images, {len(ws.yaml.node_info)} int16 node(s) in node_info")
    for name in ws.yaml.dropped:
        out.print(f"  [yellow]config node not in the opset-11 ONNX, left out:[/] {name}")
    out.print("  next, in the RDK toolchain container: bash 01_check.sh && bash 03_build.sh (see README.md)")


@app.command()
def tune(
    model: Annotated[
        str, typer.Argument(metavar="MODEL|ARTIFACT", help="Zoo model name or a float export MODEL.onnx.")
    ],
    calib: Annotated[Path, typer.Option("--calib", help="Folder of calibration images (recursive).")],
    weights: WeightsOpt = None,
    pretrained: PretrainedOpt = False,
    holdout: Annotated[
        Path | None, typer.Option("--holdout", help="Held-out images for fidelity (default: as quantize).")
    ] = None,
    budget: Annotated[float, typer.Option("--budget", help="Seconds for the whole search (about).")] = 420.0,
    threads: Annotated[int, typer.Option("--threads", help="Threads the candidates are timed at.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Replace existing output files.")] = False,
    out_dir: OutDirOpt = Path("artifacts"),
) -> None:
    """Try int8 recipes on this host; write the fastest faithful one as MODEL.tuned.yaml + its artifact."""
    from edgezoo.tune.report import print_table
    from edgezoo.tune.search import TuneOptions
    from edgezoo.tune.search import tune as run_tune

    options = TuneOptions(calib=calib, holdout=holdout, budget_s=budget, threads=threads, out_dir=out_dir, force=force)
    print_table(run_tune(model, options, weights=weights, pretrained=pretrained), out)


@app.command()
def predict(
    target: Annotated[
        str,
        typer.Argument(metavar="MODEL|ARTIFACT", help="Model name (exported on the fly, cached) or .onnx artifact."),
    ],
    inputs: Annotated[
        list[str], typer.Argument(metavar="IMAGE_OR_DIR...", help="Images, raw .nv12/.yuv frames, folders.")
    ],
    engine: Annotated[
        str, typer.Option("--engine", help="auto (the card's), onnxruntime, openvino or torch.")
    ] = "auto",
    device: Annotated[str, typer.Option("--device", help="cpu; cuda/tensorrt (onnxruntime), gpu (openvino).")] = "cpu",
    threads: Annotated[int | None, typer.Option("--threads", help="Engine threads (default: the engine's).")] = None,
    hint: Annotated[str, typer.Option("--hint", help="OpenVINO performance hint: latency or throughput.")] = "latency",
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision", help="Inference precision hint: f32, bf16, f16, or default (the engine's, not the card's)."
        ),
    ] = None,
    topk: Annotated[int, typer.Option("--topk", help="Classes to show per image.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list (see docs/predict.md).")] = False,
    frame_size: Annotated[str | None, typer.Option("--frame-size", help="WxH of raw .nv12/.yuv frames.")] = None,
    frame_range: Annotated[
        str, typer.Option("--frame-range", help="BT.601 range of raw frames: full or video.")
    ] = "full",
    letterbox: Annotated[
        bool, typer.Option("--letterbox", help="Fit the whole image, padded, instead of crop.")
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Batch for dynamic-batch artifacts.")] = 8,
    weights: WeightsOpt = None,
    pretrained: PretrainedOpt = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Export cache (default $EDGEZOO_CACHE or ~/.cache/edgezoo/artifacts)."),
    ] = None,
) -> None:
    """Top-k ImageNet classes of photos or camera frames, with the inference time. Exit 1 if any file failed."""
    import warnings

    from PIL import Image

    from edgezoo.progress import console, track
    from edgezoo.runtime.engines import SessionOptions, open_session
    from edgezoo.runtime.predict import (
        Failure,
        Predictor,
        collect_inputs,
        parse_frame_size,
        resolve_artifact,
        weights_note,
    )

    if frame_range not in ("full", "video"):
        raise EdgezooError(f"--frame-range '{frame_range}': choose full or video")
    size = parse_frame_size(frame_size) if frame_size else None
    paths = collect_inputs(inputs)
    if not paths:
        raise EdgezooError(f"no images or frames found in {', '.join(inputs)}")
    options = SessionOptions(threads=threads, device=device, hint=hint, precision=precision)
    artifact = resolve_artifact(
        target,
        weights=weights,
        pretrained=pretrained,
        cache_dir=cache_dir,
        log=lambda msg: console.print(msg, markup=False, highlight=False, soft_wrap=True),
    )
    _isa_notice([artifact.card])
    session = open_session(artifact, engine, options)
    predictor = Predictor(
        session,
        topk=topk,
        letterbox=letterbox,
        frame_size=size,
        full_range=frame_range == "full",
        batch_size=batch_size,
    )
    predictor.warm_up()
    kind = weights_note(artifact)
    if not as_json:
        note = " (random: the classes mean nothing)" if kind == "random" else ""
        print(f"{artifact.model_name}: {artifact.onnx_path}")
        print(f"engine: {session.engine} ({session.device})  weights: {kind}{note}")
    results, failed = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # too-large files still fail, one line
        for r in track(predictor(paths), "predict", total=len(paths)) if len(paths) > 1 else predictor(paths):
            if isinstance(r, Failure):
                failed += 1
                print(f"edgezoo: error: {r.error} (skipped)", file=sys.stderr)
            elif as_json:
                results.append({**r.to_dict(), "model": artifact.model_name, "engine": session.engine, "weights": kind})
            else:
                print(f"{r.image}  {r.ms:.2f} ms")
                for t in r.topk:
                    print(f"  {t.index:>4}  {t.label[:48]:<48} {t.prob:.4f}")
    if as_json:
        print(json.dumps(results, indent=2))
    if failed:
        print(f"edgezoo: {failed} of {len(paths)} files failed", file=sys.stderr)
        raise typer.Exit(1)


@app.command("bench")
def bench_cmd(
    items: Annotated[list[str], typer.Argument(help="Zoo model names and/or artifact files (.onnx/.json).")],
    engines: Annotated[
        str, typer.Option("--engines", help="torch,onnxruntime,openvino")
    ] = "torch,onnxruntime,openvino",
    precisions: Annotated[
        str | None,
        typer.Option("--precisions", help="fp32,bf16,f16,int8 (default: fp32,bf16,int8, and f16 on ARM with asimdhp)."),
    ] = None,
    threads: Annotated[
        str | None, typer.Option("--threads", help="Intra-op threads, e.g. 1,2,4 (default: 1 and all cores).")
    ] = None,
    streams: Annotated[
        str | None,
        typer.Option("--streams", help="Requests in flight, e.g. 1,2,4,8 (default: 1 and the most threads)."),
    ] = None,
    batch_sizes: Annotated[
        str | None, typer.Option("--batch-sizes", help="Batch sizes (default: 1 on CPU, 1,8,32 on GPUs).")
    ] = None,
    devices: Annotated[str, typer.Option("--devices", help="auto, or any of cpu,cuda,tensorrt.")] = "auto",
    peers: Annotated[
        str, typer.Option("--peers", help="eager,eager-reparam,ort-plain,nncf-default")
    ] = "eager,eager-reparam,ort-plain,nncf-default",
    no_peers: Annotated[bool, typer.Option("--no-peers", help="Measure edgezoo's artifacts only.")] = False,
    duration: Annotated[float, typer.Option("--duration", help="Seconds of timing per combination.")] = 2.0,
    warmup: Annotated[float, typer.Option("--warmup", help="Seconds of warm-up per combination.")] = 0.5,
    calib: Annotated[
        Path | None, typer.Option("--calib", help="Calibration images (NNCF peer, and int8 when it must be made).")
    ] = None,
    artifacts_dir: Annotated[
        Path | None,
        typer.Option("--artifacts-dir", help="Where artifacts are found or made (default: -o DIR, else ./artifacts)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
    out_dir: Annotated[Path | None, typer.Option("-o", "--out-dir", help="Write bench.json and bench.md here.")] = None,
) -> None:
    """Latency (1 and N threads), FPS (K requests in flight), load time, size and memory, with peers."""
    from edgezoo.bench import BenchOptions, bench
    from edgezoo.bench.report import markdown
    from edgezoo.fsutil import atomic_path, write_json

    doc = bench(
        BenchOptions(
            items=items,
            engines=_csv(engines) or [],
            precisions=_csv(precisions) or [],
            threads=_csv(threads, int),
            streams=_csv(streams, int),
            batch_sizes=_csv(batch_sizes, int),
            devices=_csv(devices) or ["auto"],
            peers=[] if no_peers else (_csv(peers) or []),
            duration=duration,
            warmup=warmup,
            calib=calib,
            artifacts_dir=artifacts_dir or out_dir or Path("artifacts"),
        )
    )
    _isa_notice(_cards({r["artifact"] for r in doc["results"] if r["variant"] == "edgezoo"}))
    text = markdown(doc)
    if out_dir is not None:
        write_json(out_dir / "bench.json", doc)
        with atomic_path(out_dir / "bench.md") as tmp:
            tmp.write_text(f"# edgezoo bench\n\n{text}\n", encoding="utf-8")
    if as_json:
        print(json.dumps(doc, indent=2))
    else:
        print(markdown(doc, details=False))


@app.command("eval")
def eval_command(
    targets: Annotated[
        list[str], typer.Argument(help="Zoo models and/or artifacts (.onnx/.json).", metavar="MODEL|ARTIFACT...")
    ],
    data: Annotated[Path, typer.Option("--data", help="Dataset folder (ImageFolder, ILSVRC2012, Kaggle or list).")],
    weights: WeightsOpt = None,
    pretrained: PretrainedOpt = False,
    limit: Annotated[int | None, typer.Option("--limit", help="Fixed class-balanced subset of N images.")] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="onnxruntime, openvino, torch, or auto (the card's).")
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the results document as JSON.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="auto, imagefolder, ilsvrc2012, kaggle or list.")] = "auto",
    labels: Annotated[Path | None, typer.Option("--labels", help="Ground-truth file, if not in --data.")] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Skip missing files, unknown labels, unreadable images.")
    ] = False,
    threads: Annotated[int | None, typer.Option("--threads", help="Engine threads (default: the engine's).")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Decoding processes (0: in-process); ray: Ray workers.")
    ] = None,
    save: Annotated[Path | None, typer.Option("--save", help="Also write the results JSON to this file.")] = None,
    out_dir: OutDirOpt = Path("artifacts"),
    backend: BackendOpt = "local",
    ray_address: RayAddressOpt = None,
    ship_artifacts: Annotated[
        bool, typer.Option("--ship-artifacts", help="ray: send artifacts through Ray (no shared filesystem).")
    ] = False,
    shard_size: Annotated[int | None, typer.Option("--shard-size", help="ray: images per shard.")] = None,
    per_image: Annotated[
        bool, typer.Option("--per-image", help="Add each image's top-5 classes to the results JSON.")
    ] = False,
) -> None:
    """Top-1 and Top-5 of float and INT8 artifacts on an ImageNet-style dataset, side by side.

    With --backend ray, --workers is the number of Ray workers (default: one per CPU of the cluster).
    """
    from edgezoo.evaluate.accuracy import evaluate, resolve_artifacts
    from edgezoo.evaluate.ray_backend import RayEvalOptions
    from edgezoo.fsutil import write_json
    from edgezoo.progress import console

    _check_backend(backend, ray_address=ray_address, ship_artifacts=ship_artifacts, shard_size=shard_size)
    artifacts, notes = resolve_artifacts(targets, weights=weights, pretrained=pretrained, artifacts_dir=out_dir)
    for note in notes:
        console.print(f"[dim]{note}[/]")
    _isa_notice([a.card for a in artifacts])
    report = evaluate(
        artifacts,
        data,
        fmt=fmt,
        labels=labels,
        limit=limit,
        engine=engine,
        threads=threads,
        workers=workers,
        skip_invalid=skip_invalid,
        backend=backend,
        ray=RayEvalOptions(address=ray_address, workers=workers, shard_size=shard_size, ship_artifacts=ship_artifacts),
        per_image=per_image,
    )
    if save is not None:
        write_json(save, report)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    _print_eval(report)


def _check_backend(backend: str, **ray_only: object) -> None:
    """Refuse an unknown backend, Ray options without Ray, and a missing Ray before any work starts."""
    if backend not in ("local", "ray"):
        raise EdgezooError(f"unknown backend '{backend}': choose local or ray")
    if backend == "ray":
        from edgezoo.cluster import import_ray

        import_ray()
        return
    given = [name for name, value in ray_only.items() if value]
    if given:
        raise EdgezooError(f"--{given[0].replace('_', '-')} goes with --backend ray")


def _print_eval(report: dict) -> None:
    ds = report["dataset"]
    out.print(
        f"[bold]{ds['root']}[/]: {ds['format']}"
        + (f" ({Path(ds['label_file']).name})" if ds["label_file"] else "")
        + f", {ds['labelled']} labelled images in {ds['classes']} classes"
    )
    for kind, count in ds["issues"].items():
        out.print(f"  {kind.replace('_', ' ')}: {count} (first: {ds['issue_examples'][kind]})")
    if ds["subset_text"]:
        out.print(f"  {ds['subset_text']}")
    if ds["unreadable"]:
        out.print(f"  unreadable, skipped: {ds['unreadable']} (first: {ds['unreadable_first']})")
    table = Table(title=f"accuracy (%) on {ds['evaluated']} images")
    table.add_column("model", overflow="fold")
    for col in ("precision", "engine", "weights"):
        table.add_column(col, no_wrap=True)
    for col in ("Top-1", "Top-5", "agree"):  # agree: same top-1 class as the float artifact
        table.add_column(col, justify="right", no_wrap=True, min_width=6)
    for model in report["models"]:
        for r in model["results"]:
            w = r["weights"] or {}
            table.add_row(
                model["model"],
                r["precision"],
                r["engine"],
                str(w.get("kind", "-")),
                _fmt(r["top1"], ".2f"),
                _fmt(r["top5"], ".2f"),
                _fmt(r["agreement_top1"], ".2f"),
            )
    out.print(table)
    for model in report["models"]:
        for r in model["results"]:
            if r.get("note"):
                out.print(f"  {model['model']} {r['precision']}: {r['note']}")
    ray = report.get("ray")
    where = (
        f"{ray['workers']} Ray workers on {ray['nodes']} node(s), {ray['shards']} shards"
        if ray
        else f"{report['workers']} decoding workers"
    )
    out.print(f"{report['images_per_s']} images/s with {where}, {report['seconds']} s")


@app.command("run")
def run_command(
    models: Annotated[
        list[str],
        typer.Argument(metavar="MODEL...", help="Zoo models (see `edgezoo list`) or any timm classifier names."),
    ],
    weights: WeightsOpt = None,
    pretrained: PretrainedOpt = False,
    calib: Annotated[Path | None, typer.Option("--calib", help="Calibration images for INT8.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Labelled dataset for accuracy (see eval).")] = None,
    out_dir: Annotated[Path, typer.Option("-o", "--out-dir", help="Results folder (MODEL.json + stages).")] = Path(
        "results"
    ),
    limit: Annotated[int | None, typer.Option("--limit", help="Class-balanced eval subset of N images.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Dataset format (see eval).")] = "auto",
    duration: Annotated[float | None, typer.Option("--duration", help="Bench seconds per measurement.")] = None,
    engines: Annotated[
        list[str] | None, typer.Option("--engine", help="Bench engine (repeatable; default onnxruntime, openvino).")
    ] = None,
    threads: Annotated[
        list[int] | None, typer.Option("--threads", help="Bench thread count (repeatable; default 1 and all cores).")
    ] = None,
    no_tune: Annotated[
        bool,
        typer.Option(
            "--no-tune", help="Use the shipped config even on an ISA class it was not measured or confirmed on."
        ),
    ] = False,
    backend: BackendOpt = "local",
    ray_address: RayAddressOpt = None,
) -> None:
    """The whole pipeline: export -> quantize -> bench -> eval -> OUT/MODEL.json for `edgezoo table`.

    With --backend ray, each model is one Ray task that reserves as many CPUs as its bench times with.
    """
    from edgezoo.pipeline.runner import RunOptions, run

    _check_backend(backend, ray_address=ray_address)
    runs = [
        RunOptions(
            model=model,
            weights=weights,
            pretrained=pretrained,
            calib=calib,
            data=data,
            out_dir=out_dir,
            limit=limit,
            data_format=fmt,
            duration=duration,
            engines=tuple(engines) if engines else RunOptions.engines,
            threads=threads,
            tune=not no_tune,
        )
        for model in models
    ]
    if backend == "ray":
        from edgezoo.pipeline.ray_backend import run_on_ray

        done, failed, cluster = run_on_ray(runs, ray_address)
        out.print(f"Ray: {cluster['nodes']} node(s), {cluster['cpus']} CPUs at {cluster['address']}")
    else:
        done, failed = [run(options) for options in runs], {}
    for path, doc in done:
        _print_run(path, doc)
    if failed:
        listed = "; ".join(f"{model}: {why}" for model, why in failed.items())
        raise EdgezooError(f"{len(failed)} of {len(runs)} models failed ({listed})")


def _print_run(path: Path, doc: dict) -> None:
    out.print(f"[bold]{path}[/]")
    for name, stage in doc["stages"].items():
        out.print(f"  {name}: {stage['status']}" + (f" ({stage['reason']})" if stage.get("reason") else ""))
    for precision, p in doc["precisions"].items():
        top1 = _fmt(p["top1"], ".2f") if p["top1"] is not None else f"- ({p['accuracy_note']})"
        out.print(
            f"  {precision}: Top-1 {top1}, 1-thread {_fmt(p['latency_1t_ms'], '.2f')} ms,"
            f" FPS {_fmt(p['fps'], '.1f')} ({p['engine'] or '-'})"
        )


def _cards(paths: set[str]) -> list[dict]:
    from edgezoo.artifact import read_artifact

    cards = []
    for path in sorted(paths):
        try:
            cards.append(read_artifact(path).card)
        except EdgezooError:  # peers' files are not artifacts
            continue
    return cards


def _isa_notice(cards: list[dict]) -> None:
    """One stderr line per artifact made on another ISA class than this host's (never an error)."""
    from edgezoo.host import card_notice

    for line in dict.fromkeys(filter(None, (card_notice(card) for card in cards))):
        print(f"edgezoo: note: {line}", file=sys.stderr)


def _csv(value: str | None, cast: type = str) -> list | None:
    """A comma-separated option as a list (None stays None: the default applies)."""
    if value is None:
        return None
    try:
        return [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise EdgezooError(f"cannot read '{value}' as a comma-separated list of {cast.__name__}") from exc


@app.command("table")
def table_command(
    results: Annotated[Path, typer.Option("--results", help="Folder of results JSON from `edgezoo run`.")] = Path(
        "results"
    ),
    md: Annotated[Path | None, typer.Option("--md", help="Also write the table as markdown.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write a Top-1 vs latency PNG.")] = None,
) -> None:
    """The zoo table: the seeds' columns for every model, with the RDK X5 and timm reference figures."""
    from edgezoo.artifact import command_line
    from edgezoo.pipeline import table as report
    from edgezoo.progress import console

    docs, notes = report.read_results(results)
    for note in notes:
        console.print(f"[dim]{note}[/]")
    table = Table(title=f"edgezoo results ({results})")
    rows = report.table_rows(docs)
    for i, col in enumerate(report.COLUMNS):
        table.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*row)
    if out.width >= 160:
        out.print(table)
    else:  # 13 columns do not fit: one block per model instead
        for row in rows:
            out.print(f"[bold]{row[0]}[/]")
            for col, cell in zip(report.COLUMNS[1:], row[1:], strict=True):
                out.print(f"  {col}: {cell}")
    for line in [*report.caption(docs), *report.coverage(docs)]:
        out.print(f"[dim]{line}[/]")
    if md is not None:
        report.write_markdown(docs, md, command_line())
        out.print(f"wrote {md}")
    if plot is not None:
        for note in report.plot(docs, plot):
            console.print(f"[dim]not plotted: {note}[/]")
        out.print(f"wrote {plot}")


# What only the export stage imports: an install that runs artifacts (a device) can do without them.
_EXPORT_PACKAGES = ("torch", "torchvision", "timm")


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except EdgezooError as exc:
        print(f"edgezoo: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _EXPORT_PACKAGES:
            raise
        print(
            f"edgezoo: error: {exc.name} is not installed here: exporting a model needs PyTorch and timm"
            " (pip install -r requirements.txt); quantize, tune, predict, bench and eval take a MODEL.onnx"
            " exported elsewhere",
            file=sys.stderr,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
