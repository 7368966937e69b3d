"""Per-operator profile of a model on every engine/precision edgezoo benchmarks: where does the time go?

    python benchmarks/profile_ops.py fastvit_t8 [--int8 PATH.onnx] [--threads 1] [--runs 20] [-o DIR]

Profiles, at one thread by default: ONNX Runtime fp32 and int8, OpenVINO f32, bf16 and int8 (edgezoo's
int8 artifact, and the NNCF-default peer). Without an edgezoo int8 artifact (``--int8``, or
``MODEL.int8.onnx`` in the artifacts folder) it makes a stand-in with ONNX Runtime's static QDQ
quantizer (U8S8, MinMax, seeded random calibration) and says so: the stand-in shows which kernels
an int8 QDQ graph gets on each engine, not edgezoo's final recipe.
Writes ``profile_ops.json`` and ``profile_ops.md`` to ``-o`` (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgezoo.artifact import Artifact, command_line, now_iso, read_artifact
from edgezoo.bench.machine import machine_info
from edgezoo.bench.measure import dummy_input
from edgezoo.bench.profile import OpTime, markdown_table, profile_onnxruntime, profile_openvino
from edgezoo.bench.targets import PlanRequest, find_int8, find_or_export_fp32, nncf_default
from edgezoo.fsutil import atomic_path, write_json


def stand_in_int8(fp32: Artifact, folder: Path) -> Path:
    """An ORT QDQ int8 model (U8S8, per-channel weights) for when no edgezoo int8 artifact exists."""
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize_static

    out = folder / f"{fp32.model_name}.ort_qdq_standin.onnx"
    if out.is_file():
        return out
    name = fp32.card["input"]["name"]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{name: dummy_input(fp32, seed=i)} for i in range(16)])

        def get_next(self) -> dict | None:
            return next(self._it, None)

    with atomic_path(out) as tmp:
        quantize_static(str(fp32.onnx_path), str(tmp), Reader(), activation_type=QuantType.QUInt8, per_channel=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["fastvit_t8"])
    ap.add_argument("--int8", type=Path, action="append", default=[], help="edgezoo int8 artifact(s)")
    ap.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("-o", "--out-dir", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    doc: dict = {"command": command_line(), "created": now_iso(), "machine": machine_info(), "profiles": []}
    md = [f"Command: `{doc['command']}`, {doc['created']}, {args.threads} thread(s), {args.runs} runs", ""]
    given = [read_artifact(p) for p in args.int8]
    for model in args.models:
        fp32 = find_or_export_fp32(model, args.artifacts_dir)
        x = dummy_input(fp32)
        int8 = [a for a in given if a.model_name == model] or find_int8(model, args.artifacts_dir)
        # Each int8 model gets an input in its own format (edgezoo's may take NV12 frames).
        int8_paths = [(a.onnx_path, "edgezoo int8", dummy_input(a)) for a in int8]
        if not int8_paths:
            standin = stand_in_int8(fp32, args.artifacts_dir)
            int8_paths = [(standin, "ORT QDQ U8S8 stand-in (not edgezoo's recipe)", x)]
        nncf_path, _ = nncf_default(fp32, PlanRequest(items=(model,), artifacts_dir=args.artifacts_dir))
        runs: list[tuple[str, list[OpTime]]] = [
            ("onnxruntime fp32", profile_onnxruntime(fp32.onnx_path, x, args.threads, args.runs)),
            ("openvino f32", profile_openvino(fp32.onnx_path, x, args.threads, args.runs, "f32")),
            ("openvino bf16", profile_openvino(fp32.onnx_path, x, args.threads, args.runs, "bf16")),
            ("openvino nncf-default int8", profile_openvino(nncf_path, x, args.threads, args.runs)),
        ]
        for path, what, xq in int8_paths:
            runs.append((f"onnxruntime {what} ({path.name})", profile_onnxruntime(path, xq, args.threads, args.runs)))
            runs.append((f"openvino {what} ({path.name})", profile_openvino(path, xq, args.threads, args.runs)))
            runs.append(
                (
                    f"openvino {what}, float ops f32 ({path.name})",
                    profile_openvino(path, xq, args.threads, args.runs, "f32"),
                )
            )
        for title, rows in runs:
            print(f"{model}: {title}: {sum(r.ms for r in rows):.2f} ms of kernels", file=sys.stderr)
            doc["profiles"].append({"model": model, "what": title, "ops": [r.to_dict() for r in rows]})
            md += [f"#### {model}, {title}", "", *markdown_table(rows, args.top), ""]
    write_json(args.out_dir / "profile_ops.json", doc)
    with atomic_path(args.out_dir / "profile_ops.md") as tmp:
        tmp.write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
