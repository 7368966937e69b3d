"""Regenerate docs/benchmarks.md and benchmarks/results/zoo_bench.json for the zoo on this machine.

    python benchmarks/zoo_bench.py [--models a,b] [--calib DIR] [--artifacts-dir artifacts] [--duration 1.5]

One ``edgezoo bench`` run over every zoo model (all engines, precisions and peers; 1 thread and all
cores; 1 request and as many requests as cores in flight), then the per-operator profile of
fastvit_t8. The document records the command, the machine, the date and the load average, and
includes the hand-written findings in benchmarks/findings.md. About 15 minutes on 2 cores.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(zoo_cards()), help="comma-separated (default: the whole zoo)")
    ap.add_argument("--artifacts-dir", type=Path, default=ROOT / "artifacts")
    ap.add_argument("--calib", type=Path, default=None, help="calibration images (NNCF peer, int8 if it must be made)")
    ap.add_argument("--duration", type=float, default=1.5)
    ap.add_argument("--warmup", type=float, default=0.3)
    ap.add_argument("--no-profile", action="store_true", help="skip the per-op profile of fastvit_t8")
    ap.add_argument("--json-out", type=Path, default=HERE / "results" / "zoo_bench.json")
    ap.add_argument("--md-out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument("--from-json", action="store_true", help="only rewrite the markdown from --json-out")
    args = ap.parse_args()

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
