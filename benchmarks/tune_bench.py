"""``edgezoo tune`` against the shipped config, on this host, in one run per model.

For fastvit_t8 (random weights: latency only means something, fidelity is cosine only) and
tf_efficientnet_lite0 (real weights from its PyPI package), with tune's default budget and 1 thread:
how long tune takes (target: within 10 minutes per model on 2 cores), which candidate it chose, and
the chosen candidate's latency and fidelity next to the shipped config's. Both come from the same
interleaved latency rounds of one tune run, so their ratio is read within one run.

Images: views of the photos bundled with matplotlib/scikit-image. Calibration: 200 views of four
photos; held-out: 50 views of three other photos (never calibrated on).

Usage: python benchmarks/tune_bench.py [--models fastvit_t8,tf_efficientnet_lite0] [--budget S] [--suffix S]
(writes benchmarks/results/tune_bench_<ISA class>.json and docs/tune_bench_<ISA class>.md: one
table per ISA class seen, since the project's machines change from one run to the next; with
``--suffix zoo``, tune_bench_<ISA class>_zoo.*, so that a run of other models keeps the first table)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import edgezoo  # noqa: E402,F401  (torchvision shim before timm)
from edgezoo.artifact import command_line, now_iso, versions  # noqa: E402
from edgezoo.export.to_onnx import export  # noqa: E402
from edgezoo.fsutil import atomic_path, write_json  # noqa: E402
from edgezoo.host import current_host  # noqa: E402
from edgezoo.inputs.samples import sample_photos, write_photo_variants  # noqa: E402
from edgezoo.tune.search import DEFAULT_BUDGET_S, TuneOptions, tune_artifact  # noqa: E402
from edgezoo.zoo.registry import get_card  # noqa: E402

CALIB_PHOTOS = ("chelsea", "astronaut", "rocket", "hubble_deep_field")
HELD_OUT_PHOTOS = ("grace_hopper", "coffee", "motorcycle_left")
REAL_WEIGHTS = {"tf_efficientnet_lite0"}


def _outputs(isa: str, suffix: str = "") -> tuple[Path, Path]:
    """This ISA class's data and table (one pair per class: a run on another class keeps these)."""
    stem = f"tune_bench_{isa}" + (f"_{suffix}" if suffix else "")
    return ROOT / "benchmarks" / "results" / f"{stem}.json", ROOT / "docs" / f"{stem}.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fastvit_t8,tf_efficientnet_lite0")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--suffix", default="", help="name the outputs tune_bench_<ISA class>_<suffix>.*")
    args = parser.parse_args()
    if args.suffix and not args.suffix.replace("-", "").replace("_", "").isalnum():
        parser.error(f"--suffix {args.suffix!r}: letters, digits, '-' and '_' only")
    host = current_host()
    results, table = _outputs(host.isa_class, args.suffix)
    doc = {
        "schema": "edgezoo.tune_bench/1",
        "stem": results.stem,
        "created": now_iso(),
        "command": command_line(),
        "host": host.to_dict(),
        "versions": versions(),
        "budget_s": args.budget,
        "threads": args.threads,
        "models": [],
    }
    with tempfile.TemporaryDirectory(prefix="edgezoo-tune-bench-") as tmp:
        root = Path(tmp)
        photos = {p.stem: p for p in sample_photos()}
        write_photo_variants([photos[n] for n in CALIB_PHOTOS], root / "calib", per_photo=50, seed=1)
        write_photo_variants([photos[n] for n in HELD_OUT_PHOTOS], root / "held", per_photo=17, seed=2)
        for model in args.models.split(","):
            started = time.perf_counter()
            source, _ = export(get_card(model), pretrained=model in REAL_WEIGHTS, out_dir=root / model)
            export_s = time.perf_counter() - started
            options = TuneOptions(
                calib=root / "calib",
                holdout=root / "held",
                budget_s=args.budget,
                threads=args.threads,
                out_dir=root / model / "tuned",
            )
            result = tune_artifact(source, options)
            wall = time.perf_counter() - started
            rows = {r["name"]: r for r in result.rows}
            shipped, chosen = rows["shipped"], rows[result.chosen]
            entry = {
                "model": model,
                "weights": source.card["weights"]["kind"],
                "export_s": round(export_s, 1),
                "tune_s": result.doc["elapsed_s"],
                "wall_s": round(wall, 1),
                "chosen": result.chosen,
                "held_bar": result.held_bar,
                "shipped_ms": shipped["latency_ms"],
                "chosen_ms": chosen["latency_ms"],
                "latency_noise": result.doc.get("latency_noise"),
                "chosen_speedup_vs_shipped": round(shipped["latency_ms"] / chosen["latency_ms"], 3)
                if shipped["latency_ms"] and chosen["latency_ms"]
                else None,
                "candidates": result.rows,
                "tuned_config": result.config_path.read_text(encoding="utf-8"),
            }
            doc["models"].append(entry)
            print(f"{model}: chose {result.chosen} in {wall:.0f} s", file=sys.stderr)
    write_json(results, doc)
    with atomic_path(table) as out:
        out.write_text(markdown(doc), encoding="utf-8")
    print(f"wrote {results} and {table}", file=sys.stderr)


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown(doc: dict) -> str:
    host = doc["host"]
    lines = [
        "# edgezoo tune vs the shipped config (generated)",
        "",
        f"Regenerate with `python benchmarks/tune_bench.py` on an {host['isa']} host (data:"
        f" `benchmarks/results/{doc.get('stem', 'tune_bench_' + host['isa'])}.json`). Command:"  # older files: no stem
        f" `{doc['command']}`, {doc['created']}.",
        f"Host: {host['model']}, ISA class **{host['isa']}** (flags {' '.join(host['flags'])}); budget"
        f" {doc['budget_s']:g} s, latency at {doc['threads']} thread(s), interleaved rounds within one tune run;"
        " the CPU is shared with other work, so read ratios, not absolute ms. Timing noise: the largest relative"
        " gap between sessions of the shipped artifact in the same rounds (`latency_noise`; '-' before tune"
        " measured it); a candidate replaces the shipped config only when faster by more than it and 3%.",
        "",
        "| model | weights | tune s (wall, with export) | chosen | shipped ms | chosen ms | vs shipped | timing noise |"
        " bar held |",
        "|---|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for m in doc["models"]:
        lines.append(
            f"| {m['model']} | {m['weights']} | {m['tune_s']} ({m['wall_s']}) | {m['chosen']} |"
            f" {_f(m['shipped_ms'], '.3f')} | {_f(m['chosen_ms'], '.3f')} |"
            f" {_f(m['chosen_speedup_vs_shipped'], '.2f')}x | {_f(m.get('latency_noise'), '.1%')} |"
            f" {'yes' if m['held_bar'] else 'no'} |"
        )
    for m in doc["models"]:
        lines += [
            "",
            f"## {m['model']} ({m['weights']} weights): every candidate",
            "",
            "| candidate | change | engine | ms | logit cosine | top-1 agreement | agreement, margin >= 0.05 (images) |"
            " bar | build s |",
            "|---|---|---|---:|---:|---:|---:|---|---:|",
        ]
        for r in m["candidates"]:
            engine = f"{r['engine'] or '-'}" + (f" ({r['engine_precision']})" if r["engine_precision"] else "")
            status = "" if r["status"] == "ok" else f" [{r['status']}]"
            bar = "holds" if r["holds_bar"] else ("-" if r["status"] != "ok" else "fails")
            lines.append(
                f"| {'**' + r['name'] + '**' if r['name'] == m['chosen'] else r['name']} | {r['change']}{status} |"
                f" {engine} | {_f(r['latency_ms'], '.3f')} | {_f(r['logit_cosine_mean'], '.4f')} |"
                f" {_f(r['top1_agreement'], '.3f')} | {_f(r['top1_agreement_margin_0_05'], '.3f')}"
                f" ({r['images_margin_0_05']}) | {bar} | {_f(r['build_s'], '.1f')} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
