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


def _csv(value: str | None, cast: type = str) -> list | None:
    """A comma-separated option as a list (None stays None: the default applies)."""
    if value is None:
        return None
    try:
        return [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise EdgezooError(f"cannot read '{value}' as a comma-separated list of {cast.__name__}") from exc


@app.command("bench")
def bench_cmd(
    items: Annotated[list[str], typer.Argument(help="Zoo model names and/or artifact files (.onnx/.json).")],
    engines: Annotated[
        str, typer.Option("--engines", help="torch,onnxruntime,openvino")
    ] = "torch,onnxruntime,openvino",
    precisions: Annotated[str, typer.Option("--precisions", help="fp32,bf16,int8")] = "fp32,bf16,int8",
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
    text = markdown(doc)
    if out_dir is not None:
        write_json(out_dir / "bench.json", doc)
        with atomic_path(out_dir / "bench.md") as tmp:
            tmp.write_text(f"# edgezoo bench\n\n{text}\n", encoding="utf-8")
    if as_json:
        print(json.dumps(doc, indent=2))
    else:
        print(markdown(doc, details=False))


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except EdgezooError as exc:
        print(f"edgezoo: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
