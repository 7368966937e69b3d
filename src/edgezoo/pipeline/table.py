"""The zoo table and its picture, made from the results files that ``edgezoo run`` writes.

One row per model with the seeds' columns (input, classes, params, float and quantized Top-1,
1-thread and multi-thread latency, FPS) next to the reference figures on its model card (the seeds'
RDK X5 row and timm's published Top-1). An empty accuracy cell says why it is empty. The plot puts
every model and precision at (1-thread latency, Top-1) and marks the Pareto front: the points no
other point beats on both speed and accuracy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgezoo.errors import EdgezooError
from edgezoo.fsutil import atomic_path

RESULTS_FORMAT = 1
PRECISIONS = ("fp32", "int8")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_results(folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every results document in ``folder`` (zoo order, then by name), and notes on files passed over."""
    if not folder.is_dir():
        raise EdgezooError(f"{folder}: no such results folder (run `edgezoo run MODEL -o {folder}` first)")
    docs: list[dict[str, Any]] = []
    notes: list[str] = []
    for path in sorted(folder.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EdgezooError(f"{path}: unreadable results file ({exc})") from exc
        if not isinstance(doc, dict) or "edgezoo_results" not in doc:
            notes.append(f"{path.name}: not an edgezoo results file, passed over")
            continue
        if doc["edgezoo_results"] != RESULTS_FORMAT:
            raise EdgezooError(f"{path}: results format {doc['edgezoo_results']} (this edgezoo reads {RESULTS_FORMAT})")
        docs.append(doc)
    if not docs:
        raise EdgezooError(f"{folder}: no edgezoo results files (*.json written by `edgezoo run`)")
    return sorted(docs, key=_zoo_order), notes


def _zoo_order(doc: dict[str, Any]) -> tuple[int, str]:
    from edgezoo.zoo.registry import zoo_cards

    order = list(zoo_cards())
    name = str(doc.get("model"))
    return (order.index(name) if name in order else len(order), name)


def _reference(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The card's reference figures: from the results file, else from the shipped card."""
    if "reference" in doc:
        return doc["reference"] or {}
    from edgezoo.zoo.registry import zoo_cards

    card = zoo_cards().get(str(doc.get("model")))
    return dict(card.reference) if card else {}


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A table value, or the reason it is empty."""

    value: float | None
    why: str | None = None

    def text(self, spec: str = ".2f") -> str:
        if self.value is not None:
            return format(self.value, spec)
        return f"– ({self.why})" if self.why else "–"


def _accuracy(doc: dict[str, Any], precision: str) -> Cell:
    p = doc.get("precisions", {}).get(precision)
    if p is None:
        return Cell(None, "no int8 artifact" if precision == "int8" else "not exported")
    return Cell(p.get("top1"), p.get("accuracy_note"))


def _timed_label(name: str, timed: dict[str, Any]) -> str:
    """The `timed` cell: precision, engine, and for OpenVINO what it ran float operators in ("int8 openvino+f32")."""
    hint = timed.get("engine_precision") if timed.get("engine") == "openvino" else None
    rest = f"+{hint}" if hint else ""
    return f"{name} {timed.get('engine', '')}{rest}".strip()


def _timed(doc: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The precision whose speed the row shows: the deployed one (int8) when it was measured."""
    precisions = doc.get("precisions", {})
    for name in ("int8", "fp32"):
        p = precisions.get(name) or {}
        if p.get("latency_1t_ms") is not None:
            return name, p
    return None, {}


COLUMNS = (
    "model",
    "input",
    "classes",
    "params (M)",
    "float Top-1",
    "quant Top-1",
    "timed",
    "1-thread ms",
    "multi-thread ms",
    "FPS",
    "RDK X5 Top-1 float / int8",
    "RDK X5 ms 1t / 4t, FPS",
    "timm Top-1",
)


def table_rows(docs: list[dict[str, Any]]) -> list[list[str]]:
    """The table as text cells, in COLUMNS order."""
    rows = []
    for doc in docs:
        ref = _reference(doc)
        x5, timm = ref.get("rdk_x5", {}), ref.get("timm", {})
        name, timed = _timed(doc)
        mt = timed.get("threads_mt")
        size = doc.get("input_size") or []
        rows.append(
            [
                str(doc["model"]),
                "x".join(map(str, size)) or "–",
                _num(doc.get("num_classes"), "d"),
                _num(doc.get("params_m"), ".2f"),
                _accuracy(doc, "fp32").text(),
                _accuracy(doc, "int8").text(),
                _timed_label(name, timed) if name else "– (not benchmarked)",
                _num(timed.get("latency_1t_ms"), ".2f"),
                _num(timed.get("latency_mt_ms"), ".2f") + (f" ({mt}t)" if mt else ""),
                _num(timed.get("fps"), ".1f"),
                f"{_num(x5.get('float_top1'), '.2f')} / {_num(x5.get('quant_top1'), '.2f')}" if x5 else "–",
                f"{_num(x5.get('latency_1t_ms'), '.2f')} / {_num(x5.get('latency_4t_ms'), '.2f')},"
                f" {_num(x5.get('fps'), '.1f')}"
                if x5
                else "–",
                _num(timm.get("top1"), ".2f"),
            ]
        )
    return rows


def _num(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _cpu(doc: dict[str, Any]) -> str:
    """The CPU a results file was measured on, with its ISA class where recorded (speed depends on it)."""
    cpu = (doc.get("machine") or {}).get("cpu", {})
    isa = cpu.get("isa")
    return f"{cpu.get('model')}, ISA {isa}" if isa else str(cpu.get("model"))


def caption(docs: list[dict[str, Any]]) -> list[str]:
    """Where the numbers come from: machine, engines, data, weights."""
    lines = []
    cpus = sorted({_cpu(d) for d in docs if d.get("machine")})
    if cpus:
        lines.append(f"Measured on: {', '.join(cpus)}.")
    data = sorted({str(d["eval"]["dataset"]) for d in docs if d.get("eval")})
    lines.append(f"Accuracy data: {', '.join(data)}." if data else "Accuracy: no dataset given (`--data`).")
    lines.append(
        "Speed columns are for the deployed precision in `timed` (int8 when quantized), run as its card"
        " says: the engine, and after `+` what OpenVINO ran the float operators in; multi-thread latency"
        " uses the thread count in brackets; FPS: the best throughput measured at any thread and stream"
        " count (one request in flight where only that was run). X5 columns: the RDK Model Zoo's X5"
        " figures (BPU, NV12 input);"
        " timm Top-1: published ImageNet-1k accuracy at timm's test size (not always the deployed 224: see each"
        " card's reference.timm.img_size; FastViT 256, EdgeNeXt and ConvNeXt 288-320, EfficientNet-B2..B4 288-384)."
    )
    return lines


def coverage(docs: list[dict[str, Any]]) -> list[str]:
    """What of the zoo the table leaves out, so that a partial table never reads as the whole zoo:
    zoo cards with no results file in the folder, and the zoo's models that edgezoo cannot build (with
    the board's figures and why)."""
    from edgezoo.zoo.registry import unavailable_models, zoo_cards

    have = {str(d.get("model")) for d in docs}
    if not have & set(zoo_cards()):
        return []  # a table of models outside the zoo: nothing to compare with
    lines = []
    if absent := [name for name in zoo_cards() if name not in have]:
        lines.append(f"Zoo cards with no results here ({len(absent)}): {', '.join(absent)}.")
    for m in unavailable_models():
        x5 = m.rdk_x5
        figures = (
            f"X5 Top-1 {_num(x5.get('float_top1'), '.2f')} / {_num(x5.get('quant_top1'), '.2f')},"
            f" {_num(x5.get('latency_1t_ms'), '.2f')} ms 1t"
        )
        lines.append(f"Not available: {m.rdk_name} ({figures}): {m.reason}.")
    return lines


def markdown(docs: list[dict[str, Any]], command: str | None = None) -> str:
    head = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|"
    body = ["| " + " | ".join(row) + " |" for row in table_rows(docs)]
    tail = ["", *caption(docs), *coverage(docs)]
    if command:
        tail.append(f"Made with: `{command}`")
    return "\n".join([head, rule, *body, *tail]) + "\n"


# --------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    model: str
    precision: str
    latency_ms: float
    top1: float
    measured: bool  # False: y is the card's published float Top-1, not a measurement


def plot_points(docs: list[dict[str, Any]]) -> tuple[list[Point], list[str]]:
    """(latency, Top-1) for every model and precision, and what could not be placed, with why.

    Where Top-1 was not measured (random weights, no data), the card's published float Top-1 (timm)
    stands in for both precisions, drawn hollow: the plot then shows measured speed against
    published accuracy, and says so.
    """
    points, missing = [], []
    for doc in docs:
        published = _reference(doc).get("timm", {}).get("top1")
        for precision in PRECISIONS:
            p = (doc.get("precisions") or {}).get(precision)
            if p is None:
                continue
            latency = p.get("latency_1t_ms")
            if latency is None:
                missing.append(f"{doc['model']} {precision}: not benchmarked")
            elif p.get("top1") is not None:
                points.append(Point(doc["model"], precision, float(latency), float(p["top1"]), True))
            elif published is not None:
                points.append(Point(doc["model"], precision, float(latency), float(published), False))
            else:
                missing.append(f"{doc['model']} {precision}: no Top-1 ({p.get('accuracy_note') or 'not measured'})")
    return points, missing


def pareto_front(points: list[Point]) -> list[Point]:
    """Points that no other point beats on both latency (lower) and Top-1 (higher), fastest first."""
    front = []
    best = float("-inf")
    for p in sorted(points, key=lambda q: (q.latency_ms, -q.top1)):
        if p.top1 > best:
            front.append(p)
            best = p.top1
    return front


def plot(docs: list[dict[str, Any]], target: Path) -> list[str]:
    """Write the Top-1 vs latency PNG; returns notes on points left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, missing = plot_points(docs)
    if not points:
        raise EdgezooError("nothing to plot: no model has both a latency and a Top-1 (measured or published)")
    front = pareto_front(points)
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    markers = {"fp32": "o", "int8": "s"}
    colours = {"fp32": "tab:blue", "int8": "tab:orange"}
    for precision in PRECISIONS:
        for measured in (True, False):
            mine = [p for p in points if p.precision == precision and p.measured == measured]
            if not mine:
                continue
            label = f"{precision}" + ("" if measured else " (Top-1: timm published float, not measured)")
            ax.scatter(
                [p.latency_ms for p in mine],
                [p.top1 for p in mine],
                marker=markers[precision],
                s=60,
                label=label,
                facecolors=colours[precision] if measured else "none",
                edgecolors=colours[precision],
                linewidths=1.5,
                zorder=3,
            )
    for p in points:
        ax.annotate(p.model, (p.latency_ms, p.top1), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.plot(
        [p.latency_ms for p in front],
        [p.top1 for p in front],
        "--",
        color="tab:green",
        label="Pareto front",
        zorder=2,
        drawstyle="steps-post",
    )
    ax.set_xscale("log")
    ax.set_xlabel("1-thread latency, ms (log scale, lower is better)")
    ax.set_ylabel("Top-1 %")
    cpus = sorted({str((d.get("machine") or {}).get("cpu", {}).get("model")) for d in docs if d.get("machine")})
    ax.set_title("Top-1 vs latency" + (f" on {cpus[0]}" if len(cpus) == 1 else ""), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if missing:
        fig.text(0.01, 0.01, "not plotted: " + "; ".join(missing), fontsize=6, wrap=True)
    fig.tight_layout(rect=(0, 0.04 if missing else 0, 1, 1))
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return missing


def write_markdown(docs: list[dict[str, Any]], target: Path, command: str | None = None) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(markdown(docs, command), encoding="utf-8")
