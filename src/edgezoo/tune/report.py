"""The table ``edgezoo tune`` prints: every candidate with its latency and fidelity, the chosen one marked."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from edgezoo.tune.search import MARGIN, MIN_AGREEMENT, MIN_COSINE, TuneResult


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(result: TuneResult, console: Console) -> None:
    doc = result.doc
    host = doc["host"]
    table = Table(title=f"{doc['model']} on {host['model']} ({host['isa']}), {doc['threads']} thread(s)")
    # Names and engines wrap, figures never do: on an 80-column terminal every figure stays readable.
    for col in ("candidate", "engine"):
        table.add_column(col, overflow="fold")
    for col in ("ms", "cosine", "top-1", "clear top-1"):
        table.add_column(col, no_wrap=True, justify="right")
    table.add_column("bar", no_wrap=True)
    notes = []
    for row in result.rows:
        mark = "*" if row["name"] == result.chosen else ""
        bar = "holds" if row["holds_bar"] else ("-" if row["status"] != "ok" else "fails")
        if row["status"] != "ok":
            notes.append(f"{row['name']}: {row['status']}")
        elif not row["choosable"]:
            notes.append(f"{row['name']}: {row['change']}")
        table.add_row(
            f"{mark}{row['name']}",
            f"{row['engine'] or '-'}" + (f" {row['engine_precision']}" if row["engine_precision"] else ""),
            _num(row["latency_ms"], ".3f"),
            _num(row["logit_cosine_mean"], ".4f"),
            _num(row["top1_agreement"], ".3f"),
            f"{_num(row['top1_agreement_margin_0_05'], '.3f')} ({row['images_margin_0_05']})",
            bar,
        )
    console.print(table)
    for note in notes:
        console.print(f"  {note}")
    real = "real weights" if doc["real_weights"] else "random weights: cosine only"
    console.print(
        f"bar: logit cosine >= {MIN_COSINE}, top-1 agreement >= {MIN_AGREEMENT} on clear images (float's top-1"
        f" margin >= {MARGIN})"
        f" ({real}); {doc['held_out_images']} held-out, {doc['calibration_images']} calibration images;"
        f" {doc['elapsed_s']} s of a {doc['budget_s']:g} s budget"
    )
    if doc.get("latency_noise") is not None:
        console.print(
            f"timing noise: sessions of the shipped config up to {doc['latency_noise']:.1%} apart; a candidate"
            f" replaces it only if faster by more than {doc['min_gain']:.1%}"
        )
    if not result.held_bar:
        console.print("[yellow]no candidate holds the bar: kept the fastest one as faithful as the shipped config[/]")
    console.print(f"chosen: [bold]{result.chosen}[/]")
    console.print(f"wrote {result.config_path}, {result.artifact.onnx_path}, {result.table_path}")
