"""Speed-up of ``edgezoo eval --backend ray`` from one to two local Ray workers, on this machine.

    python benchmarks/ray_eval_bench.py [--images 210] [--rounds 3] [--cpus 2]

Real-weights tf_efficientnet_lite0 (float, ONNX Runtime) on the photos bundled with the installed
wheels, copied to ``--images`` files. One local Ray instance with ``--cpus`` CPUs serves every
measurement; in each round the configurations run back to back (1 Ray worker, 2 Ray workers, and
the local backend for reference), each engine at 1 thread, so that drift in the machine's
background load spreads over all of them. Every configuration must give the same per-image top-5
classes; the script fails otherwise. Writes benchmarks/results/ray_eval_bench.json and
docs/ray_eval_bench.md. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from edgezoo.artifact import command_line, now_iso
from edgezoo.bench.machine import machine_info
from edgezoo.cluster import local_runtime_env
from edgezoo.evaluate.accuracy import evaluate
from edgezoo.evaluate.ray_backend import RayEvalOptions
from edgezoo.export.to_onnx import export
from edgezoo.fsutil import atomic_path, write_json
from edgezoo.inputs.samples import sample_photos
from edgezoo.zoo.registry import get_card

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODEL = "tf_efficientnet_lite0"
CONFIGS = {  # name -> evaluate() keywords; every engine at 1 thread
    "ray, 1 worker": {"backend": "ray", "ray": RayEvalOptions(workers=1)},
    "ray, 2 workers": {"backend": "ray", "ray": RayEvalOptions(workers=2)},
    "local, 1 decoding process": {"backend": "local", "workers": 1},
}


def _dataset(root: Path, images: int) -> None:
    """``images`` copies of the bundled photos, in the list layout (labels do not matter here)."""
    photos = sorted(sample_photos())
    root.mkdir(parents=True)
    lines = []
    for i in range(images):
        src = photos[i % len(photos)]
        name = f"{i:05d}_{src.name}"
        shutil.copy(src, root / name)
        lines.append(f"{name} 0\n")
    (root / "val.txt").write_text("".join(lines))


def _cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat: how loaded the machine was meanwhile."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=210)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    ap.add_argument("--json-out", type=Path, default=HERE / "results" / "ray_eval_bench.json")
    ap.add_argument("--md-out", type=Path, default=ROOT / "docs" / "ray_eval_bench.md")
    args = ap.parse_args()

    import ray

    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="edgezoo-raybench-") as tmp:
        art, _ = export(get_card(MODEL), pretrained=True, out_dir=Path(tmp) / "artifacts")
        data = Path(tmp) / "data"
        _dataset(data, args.images)
        t0 = time.perf_counter()
        ray.init(
            num_cpus=args.cpus,
            include_dashboard=False,
            runtime_env=local_runtime_env(),
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
        ray_start_s = time.perf_counter() - t0
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGS}
        reference = None
        busy0 = _cpu_busy()
        try:
            for r in range(args.rounds):
                for name, kw in CONFIGS.items():
                    doc = evaluate([art], data, threads=1, per_image=True, **kw)
                    models = doc["models"]
                    if reference is None:
                        reference = models
                    if models != reference:
                        raise SystemExit(f"{name}: predictions differ from the first configuration's")
                    runs[name].append({"round": r, "seconds": doc["seconds"], "images_per_s": doc["images_per_s"]})
                    print(f"round {r} {name}: {doc['seconds']:.2f} s, {doc['images_per_s']} images/s", flush=True)
        finally:
            ray.shutdown()
        busy1 = _cpu_busy()
    medians = {name: statistics.median(x["seconds"] for x in rs) for name, rs in runs.items()}
    speedup = medians["ray, 1 worker"] / medians["ray, 2 workers"]
    cpu = machine_info()["cpu"]
    doc_out = {
        "created": now_iso(),
        "command": command_line(),
        "model": MODEL,
        "artifact": "float, ONNX Runtime, 1 thread per engine",
        "images": args.images,
        "rounds": args.rounds,
        "ray_cpus": args.cpus,
        "ray_start_s": round(ray_start_s, 2),
        "runs": runs,
        "median_seconds": {k: round(v, 3) for k, v in medians.items()},
        "median_images_per_s": {k: round(args.images / v, 2) for k, v in medians.items()},
        "speedup_2_vs_1_worker": round(speedup, 3),
        "identical_predictions": True,
        "machine": {
            "cpu": cpu,
            "load_average_before": load_before,
            "load_average_after": list(os.getloadavg()),
            # share of all CPUs' time that was busy during the measurements (ours and everyone else's)
            "cpu_busy_during": round((busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1]), 3),
        },
        "ray": ray.__version__,
    }
    write_json(args.json_out, doc_out)
    lines = [
        "# `edgezoo eval --backend ray`: one vs two local workers",
        "",
        f"{args.images} images (the bundled photos, copied), real-weights {MODEL} float on ONNX Runtime, every"
        f" engine at 1 thread; one local Ray {ray.__version__} instance with {args.cpus} CPUs (started once:"
        f" {ray_start_s:.1f} s, not counted below); {args.rounds} rounds, configurations back to back in each."
        " Seconds from reading the dataset to the last prediction (workers' start and session loading included).",
        "",
        "| configuration | median s | images/s | runs (s) |",
        "|---|---:|---:|---|",
    ]
    for name, rs in runs.items():
        lines.append(
            f"| {name} | {medians[name]:.2f} | {args.images / medians[name]:.1f} |"
            f" {', '.join(format(x['seconds'], '.2f') for x in rs)} |"
        )
    m = doc_out["machine"]
    lines += [
        "",
        f"**Speed-up from 1 to 2 Ray workers: {speedup:.2f}x** (median over rounds); every configuration gave"
        " the same per-image top-5 classes.",
        "",
        f"Machine: {cpu['model']}, {cpu['usable_cores']} usable cores, flags {', '.join(cpu['flags'])}."
        f" Load average {m['load_average_before'][0]:.2f} before, {m['load_average_after'][0]:.2f} after; CPUs"
        f" {100 * m['cpu_busy_during']:.0f}% busy during the run (this benchmark and everything else).",
        "",
        f"Command: `{command_line()}` ({now_iso()}).",
        "",
    ]
    with atomic_path(args.md_out) as tmp_md:
        tmp_md.write_text("\n".join(lines), encoding="utf-8")
    print(f"speed-up 1 -> 2 workers: {speedup:.2f}x; wrote {args.json_out} and {args.md_out}")


if __name__ == "__main__":
    main()
