"""Regenerate docs/benchmarks.md and benchmarks/results/zoo_bench.json for the zoo on this machine.

    python benchmarks/zoo_bench.py [--models a,b] [--calib DIR] [--artifacts-dir artifacts] [--duration 1.5]
    python benchmarks/zoo_bench.py --quick [--models a,b] [--calib DIR] [--artifacts-dir artifacts]

One ``edgezoo bench`` run over every zoo model (all engines, precisions and peers; 1 thread and all
cores; 1 request and as many requests as cores in flight), then the per-operator profile of
fastvit_t8. The document records the command, the machine, the date and the load average, and
includes the hand-written findings in benchmarks/findings.md. About 15 minutes on 2 cores.

``--quick``: every card, each in the one engine its shipped config deploys it in, its fp32 export
against its deployed int8 artifact (and nothing else: no peers, no other engine or precision hint),
at 1 thread and at all cores, one request in flight, all in one run. Writes
benchmarks/results/zoo_quick.json and docs/zoo_speed.md. Artifacts missing from --artifacts-dir are
exported and quantized first (--calib: real photos; without it, views of the bundled photos).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from edgezoo.artifact import command_line
from edgezoo.bench import BenchOptions, bench
from edgezoo.bench.report import markdown
from edgezoo.fsutil import atomic_path, write_json
from edgezoo.host import isa_class
from edgezoo.zoo.registry import zoo_cards

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _isa(doc: dict) -> str:
    """The ISA class the run was measured on (older documents record only the flags)."""
    cpu = doc["machine"]["cpu"]
    return f"{cpu.get('isa') or isa_class(cpu.get('arch', 'x86_64'), cpu['flags'])} ({cpu['model']})"


def quick(models: list[str], artifacts_dir: Path, calib: Path | None, duration: float, warmup: float) -> dict:
    """fp32 export vs deployed int8 for every model, in its card's engine only, in one benchmark run."""
    from edgezoo.artifact import now_iso
    from edgezoo.bench import default_threads
    from edgezoo.bench.machine import machine_info
    from edgezoo.bench.report import document
    from edgezoo.bench.run import SLICE_S, run_plan
    from edgezoo.bench.targets import PlanRequest, default_precisions, deployed_way, make_plan

    created = now_iso()
    machine = machine_info()
    plan = make_plan(
        PlanRequest(
            items=tuple(models),
            engines=("onnxruntime", "openvino"),
            precisions=default_precisions(),  # bf16/f16: OpenVINO's own ways to run a float model fast
            peers=(),
            artifacts_dir=artifacts_dir,
            calib=calib,
        )
    )
    deployed: dict[str, tuple[str, str | None]] = {}
    fidelity: dict[str, dict] = {}  # what each int8 artifact's card says its quantization kept
    for t in plan.targets:
        if t.precision == "int8":
            card = json.loads(Path(t.card_path).read_text(encoding="utf-8"))
            deployed.setdefault(t.model, deployed_way(card))
            f = card.get("quantization", {}).get("fidelity", {})
            keys = ("images", "logit_cosine_mean", "logit_cosine_min", "top1_agreement", "top5_overlap")
            fidelity.setdefault(t.model, {k: f.get(k) for k in keys})
    keep = []
    for t in plan.targets:
        engine, hint = deployed.get(t.model, (None, None))
        if t.engine != engine or t.device != "cpu":
            continue
        if t.precision == "int8" and t.ov_precision != hint:
            continue  # the same int8 file under a precision hint its card does not deploy
        keep.append(t)
    dropped = len(plan.targets) - len(keep)
    plan.targets = keep
    threads = default_threads()
    results, skipped = run_plan(plan, threads, [1], duration, warmup)
    # ONNX Runtime has no bf16 mode: not a gap in this run, which times each card in its own engine only.
    plan.skipped = [s for s in plan.skipped if s["what"] != "onnxruntime bf16"]
    settings = {
        "mode": "quick: each card's own engine, fp32 export vs deployed int8, no peers",
        "threads": threads,
        "streams": [1],
        "duration_s": duration,
        "warmup_s": warmup,
        "artifacts_dir": str(artifacts_dir),
        "calibration": str(calib) if calib else None,
        "targets_not_in_quick_mode": dropped,
        "fidelity": fidelity,
        "slice_s": SLICE_S,
        "targets": [t.to_dict() for t in plan.targets],
    }
    return document(results, plan.skipped + skipped, machine, settings, command_line(), created)


def quick_rows(doc: dict) -> list[dict]:
    """One row per model: fp32 and int8 median latency at each thread count, and their ratio."""
    from edgezoo.zoo.registry import zoo_cards

    cards = zoo_cards()
    by: dict[str, dict] = {}
    for r in doc["results"]:
        if r.get("streams", 1) != 1 or r.get("batch", 1) != 1 or "latency_ms" not in r:
            continue
        row = by.setdefault(r["model"], {"model": r["model"], "engine": r["engine"]})
        t, ms = r["threads"], r["latency_ms"]["median"]
        if r["precision"] == "int8":
            row[f"int8_{t}t"] = ms
            row["engine_precision"] = r.get("engine_precision")
            continue
        if r["precision"] == "fp32":  # the export run in float32 itself (the literal bar)
            row[f"f32_{t}t"] = ms
        if ms < row.get(f"fp32_{t}t", float("inf")):  # the fp32 export's fastest way: f32 or bf16
            row[f"fp32_{t}t"] = ms
            row[f"fp32_way_{t}t"] = r["precision"] if r["engine"] == "openvino" else ""
    order = {name: i for i, name in enumerate(cards)}
    rows = sorted(by.values(), key=lambda row: (order.get(row["model"], len(order)), row["model"]))
    for row in rows:
        card = cards.get(row["model"])
        row["family"] = card.family if card else "-"
        row["fidelity"] = doc["settings"].get("fidelity", {}).get(row["model"], {})
        for t in doc["settings"]["threads"]:
            fp32, int8 = row.get(f"fp32_{t}t"), row.get(f"int8_{t}t")
            row[f"speedup_{t}t"] = fp32 / int8 if fp32 and int8 else None
    return rows


def quick_markdown(doc: dict) -> str:
    threads = doc["settings"]["threads"]
    cpu = doc["machine"]["cpu"]
    head = ["model", "family", "engine"]
    for t in threads:
        head += [f"fp32 export ms {t}t", f"int8 ms {t}t", f"speed-up {t}t"]
    head += ["logit cosine", "held-out"]
    lines = [
        "# Whole-zoo speed: fp32 export vs deployed int8 (generated)",
        "",
        f"Machine: {cpu['model']}, {cpu['usable_cores']} usable cores, ISA flags: {', '.join(cpu['flags']) or 'none'}.",
        f"Date: {doc['created']}. Load average at the start: {doc['machine'].get('load_average')}.",
        f"Command: `python benchmarks/{doc['command']}`"
        if doc["command"].startswith("zoo_bench.py")
        else f"Command: `{doc['command']}`",
        "",
        "Each model in the engine its shipped config deploys it in (the int8 card's `engine`), its fp32",
        "export and its int8 artifact timed side by side in this one run (one worker process per target,",
        "slices interleaved; median single-image latency, batch 1, one request in flight). The fp32 export",
        "is timed the fastest way its engine runs it (OpenVINO: f32 and bf16 inference precision, the faster",
        "shown, marked `(bf16)`); the int8 artifact with its card's precision hint (`+hint` after the engine;",
        "none: the engine's default). Random weights: latency does not depend on them.",
        "Speed-up = fp32 export ms / int8 ms. Logit cosine: int8 vs the float export on the held-out images",
        "its quantization report used (from the int8 artifact's card; random weights, so cosine, not Top-1).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|",
    ]
    slower, slower_f32 = [], []
    for row in quick_rows(doc):
        hint = row.get("engine_precision")
        cells = [row["model"], row["family"], row["engine"] + (f"+{hint}" if hint else "")]
        for t in threads:
            fp32, int8, up = row.get(f"fp32_{t}t"), row.get(f"int8_{t}t"), row.get(f"speedup_{t}t")
            way = " (bf16)" if row.get(f"fp32_way_{t}t") == "bf16" else ""
            cells += [_f(fp32) + way, _f(int8), f"{up:.2f}x" if up else "–"]
            if up is not None and up < 1.0:
                slower.append(f"{row['model']} ({t}t)")
            f32 = row.get(f"f32_{t}t")
            if f32 is not None and int8 is not None and int8 >= f32:
                slower_f32.append(f"{row['model']} ({t}t)")
        f = row["fidelity"]
        cos = f.get("logit_cosine_mean")
        cells += [f"{cos:.4f} (min {f['logit_cosine_min']:.4f})" if cos else "–", str(f.get("images") or "–")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"int8 slower than the fastest float way above: {', '.join(slower) if slower else 'none'}.",
        f"int8 slower than the fp32 export run in float32: {', '.join(slower_f32) if slower_f32 else 'none'}.",
    ]
    if doc["skipped"]:
        lines += ["", "Not measured:", ""]
        lines += [f"- {s['model']}: {s['what']} ({s['reason']})" for s in doc["skipped"]]
    return "\n".join(lines) + "\n"


def write_results(doc: dict, artifacts_dir: Path, out_dir: Path) -> list[Path]:
    """One results file per model (the schema ``edgezoo run`` writes, docs/eval.md) from the quick
    run, so that ``edgezoo table --results OUT_DIR`` makes the zoo table from this one benchmark."""
    from edgezoo.artifact import now_iso, read_artifact, versions
    from edgezoo.bench.targets import deployed_label, find_int8
    from edgezoo.pipeline.runner import bench_summary
    from edgezoo.pipeline.table import RESULTS_FORMAT
    from edgezoo.zoo.registry import get_card

    written = []
    for model in sorted({r["model"] for r in doc["results"]}):
        card = get_card(model)
        arts = {"fp32": read_artifact(artifacts_dir / f"{model}.onnx")}
        int8 = find_int8(model, artifacts_dir)
        if int8:
            arts["int8"] = int8[0]
        precisions = {}
        for precision, art in arts.items():
            mine = {"results": [r for r in doc["results"] if r["model"] == model]}
            speed = bench_summary(mine, precision, deployed_label(art) if precision == "int8" else None)
            precisions[precision] = {
                "artifact": art.onnx_path.name,
                "engine": (speed or {}).get("engine") or art.card.get("engine"),
                "top1": None,
                "top5": None,
                "agreement_top1": None,
                "accuracy_note": "random weights",
                "latency_1t_ms": None,
                "latency_mt_ms": None,
                "threads_mt": None,
                "fps": None,
                **(speed or {"speed_note": "not measured"}),
            }
        fp32 = arts["fp32"].card
        result = {
            "edgezoo_results": RESULTS_FORMAT,
            "model": model,
            "timm_name": card.timm_name,
            "created": now_iso(),
            "command": doc["command"],
            "versions": versions(),
            "machine": doc["machine"],
            "input_size": list(fp32["input"]["shape"][2:]),
            "num_classes": card.num_classes,
            "params_m": round(fp32["params"]["pytorch"] / 1e6, 3),
            "weights": fp32.get("weights"),
            "reference": card.reference,
            "stages": {
                "export": {"status": "ok"},
                "quantize": {"status": "ok" if "int8" in arts else "skipped"},
                "bench": {"status": "ok", "reason": "zoo_bench.py --quick: the card's engine, fp32 vs int8"},
                "eval": {"status": "skipped", "reason": "random weights"},
            },
            "precisions": precisions,
            "eval": None,
        }
        target = out_dir / f"{model}.json"
        write_json(target, result)
        written.append(target)
    return written


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(zoo_cards()), help="comma-separated (default: the whole zoo)")
    ap.add_argument("--artifacts-dir", type=Path, default=ROOT / "artifacts")
    ap.add_argument("--calib", type=Path, default=None, help="calibration images (NNCF peer, int8 if it must be made)")
    ap.add_argument("--duration", type=float, default=1.5)
    ap.add_argument("--warmup", type=float, default=0.3)
    ap.add_argument("--no-profile", action="store_true", help="skip the per-op profile of fastvit_t8")
    ap.add_argument("--json-out", type=Path, default=None, help="default: results/zoo_bench.json (zoo_quick.json)")
    ap.add_argument("--md-out", type=Path, default=None, help="default: docs/benchmarks.md (docs/zoo_speed.md)")
    ap.add_argument("--from-json", action="store_true", help="only rewrite the markdown from --json-out")
    ap.add_argument("--quick", action="store_true", help="each card's own engine, fp32 vs int8, no peers")
    ap.add_argument(
        "--results-dir",
        type=Path,
        default=HERE / "results" / "zoo_quick",
        help="--quick: where to write one results file per model for `edgezoo table --results DIR`",
    )
    args = ap.parse_args()
    if args.quick:
        json_out = args.json_out or HERE / "results" / "zoo_quick.json"
        md_out = args.md_out or ROOT / "docs" / "zoo_speed.md"
        if args.from_json:
            doc = json.loads(json_out.read_text(encoding="utf-8"))
        else:
            started = time.perf_counter()
            models = [m for m in args.models.split(",") if m]
            doc = quick(models, args.artifacts_dir, args.calib, args.duration, args.warmup)
            doc["wall_s"] = time.perf_counter() - started
            write_json(json_out, doc)
        write_results(doc, Path(doc["settings"]["artifacts_dir"]), args.results_dir)
        with atomic_path(md_out) as tmp:
            tmp.write_text(quick_markdown(doc), encoding="utf-8")
        print(f"wrote {md_out} and {json_out}", file=sys.stderr)
        return
    args.json_out = args.json_out or HERE / "results" / "zoo_bench.json"
    args.md_out = args.md_out or ROOT / "docs" / "benchmarks.md"

    if args.from_json:  # e.g. after editing benchmarks/findings.md: no new measurement
        doc = json.loads(args.json_out.read_text(encoding="utf-8"))
    else:
        started = time.perf_counter()
        doc = bench(
            BenchOptions(
                items=[m for m in args.models.split(",") if m],
                duration=args.duration,
                warmup=args.warmup,
                artifacts_dir=args.artifacts_dir,
                calib=args.calib,
            )
        )
        doc["command"] = command_line()  # this script, not the bench API call inside it
        doc["wall_s"] = time.perf_counter() - started
        doc["machine"]["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        write_json(args.json_out, doc)
    load_after = doc["machine"].get("load_average_after")

    profile = ""
    if args.from_json and (HERE / "results" / "profile_ops.md").is_file():
        profile = (HERE / "results" / "profile_ops.md").read_text(encoding="utf-8")
    elif not args.no_profile:
        subprocess.run(
            [sys.executable, str(HERE / "profile_ops.py"), "fastvit_t8", "--artifacts-dir", str(args.artifacts_dir)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        profile = (HERE / "results" / "profile_ops.md").read_text(encoding="utf-8")
    findings = (HERE / "findings.md").read_text(encoding="utf-8")
    text = "\n".join(
        [
            "# Benchmarks (generated)",
            "",
            "Regenerate with `python benchmarks/zoo_bench.py` (data: `benchmarks/results/zoo_bench.json`; schema and",
            "method: docs/bench.md). Ratios are read within this one run; absolute figures depend on the machine",
            f"and on what else ran: load average {doc['machine']['load_average']} at the start and {load_after}"
            f" at the end, {doc['wall_s'] / 60:.1f} min in all.",
            "",
            "## Findings",
            "",
            findings.strip(),
            "",
            f"## Results on {_isa(doc)}",
            "",
            markdown(doc),
            "",
            "## Per-operator profile of fastvit_t8 (benchmarks/profile_ops.py)" if profile else "",
            "",
            profile,
        ]
    )
    with atomic_path(args.md_out) as tmp:
        tmp.write_text(text.rstrip() + "\n", encoding="utf-8")
    print(f"wrote {args.md_out} and {args.json_out} in {doc['wall_s'] / 60:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()
