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


def _fmt(value: object, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


@app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the model cards as JSON.")] = False,
) -> None:
    """The zoo's models and what their cards say."""
    from edgezoo.zoo import zoo_cards

    cards = list(zoo_cards().values())
    if as_json:
        print(json.dumps([c.to_dict() for c in cards], indent=2))
        return
    table = Table(title="edgezoo models (any other timm classifier name works too)")
    table.add_column("model", no_wrap=True)
    table.add_column("input", no_wrap=True)
    for col in ("params M", "GMACs", "timm Top-1", "RDK X5 float", "RDK X5 int8"):
        table.add_column(col, justify="right")
    for c in cards:
        rdk = c.reference.get("rdk_x5", {})
        table.add_row(
            c.name,
            "x".join(map(str, c.img_size)),
            _fmt(c.params and c.params / 1e6, ".2f"),
            _fmt(c.gmacs, ".2f"),
            _fmt(c.reference.get("timm", {}).get("top1")),
            _fmt(rdk.get("float_top1")),
            _fmt(rdk.get("quant_top1")),
        )
    out.print(table)


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Zoo model (see `edgezoo list`) or any timm classifier name.")],
    weights: WeightsOpt = None,
    pretrained: PretrainedOpt = False,
    img_size: Annotated[int | None, typer.Option("--img-size", help="Input size (default: the card's).")] = None,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset, 11..20.")] = 17,
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch", help="Dynamic batch axis (servers).")] = False,
    out_dir: OutDirOpt = Path("artifacts"),
) -> None:
    """Export a model to ONNX (reparameterized, simplified, checked against PyTorch) with its card."""
    from edgezoo.export import export as run_export
    from edgezoo.zoo import get_card

    artifact, checks = run_export(
        get_card(model),
        weights=weights,
        pretrained=pretrained,
        img_size=img_size,
        opset=opset,
        dynamic_batch=dynamic_batch,
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
    force: Annotated[bool, typer.Option("--force", help="Replace an existing MODEL.int8.onnx/.json.")] = False,
    out_dir: OutDirOpt = Path("artifacts"),
) -> None:
    """Quantize a float export to INT8 with its config; print the fidelity report and write the artifact."""
    import tempfile

    from edgezoo.artifact import is_artifact_path
    from edgezoo.int8 import config_for, float_source, model_card_of, quantize_artifact

    with tempfile.TemporaryDirectory(prefix="edgezoo-export-") as tmp:
        source = float_source(model, weights, pretrained, Path(tmp))
        cfg = config_for(config, model_card_of(source))
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
            source_is_temporary=not is_artifact_path(model),
        )
    _print_quantized(result)


def _print_quantized(result) -> None:  # type: ignore[no-untyped-def]
    card = result.artifact.card
    q = card["quantization"]
    f = result.fidelity
    out.print(f"[bold]{result.artifact.onnx_path}[/] and {result.artifact.card_path.name}")
    out.print(f"  config {q['config_file']}, quantizer {q['quantizer']}, engine {card['engine']}")
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
        for col in ("step", "raised", "top-1 agreement", "logit cosine", "latency ms", "delta ms"):
            steps.add_column(col, justify="left" if col == "raised" else "right")
        for s in result.auto_steps:
            steps.add_row(
                str(s["step"]) + (" kept" if s.get("kept") else ""),
                ", ".join(s["raised"]) or "-",
                f"{s['top1_agreement']:.3f}",
                f"{s['logit_cosine_mean']:.4f}",
                f"{s['latency_ms']:.2f}",
                f"{s['latency_delta_ms']:+.2f}",
            )
        out.print(steps)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except EdgezooError as exc:
        print(f"edgezoo: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
