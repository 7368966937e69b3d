"""Each convolutional-family model's int8 artifact against its fp32 export, 1 thread, side by side.

For every model named, the fp32 export (``ARTIFACTS/MODEL.onnx``) and the int8 artifact
(``ARTIFACTS/MODEL.int8.onnx``, made with the shipped family config) are opened in every way worth
comparing (OpenVINO f32 and bf16 for the export; OpenVINO as the card deploys it, at OpenVINO's
default precision, and ONNX Runtime for the int8 artifact), and timed in the same rounds, alternating
the order, so that load on a shared machine hits all ways alike: read ratios, not absolute ms.
The int8 card's own fidelity figures (logit cosine and top-1 agreement on held-out images) are
copied beside the latencies.

Usage: python benchmarks/zoo_cnn_int8.py [--artifacts DIR] [--out JSON] MODEL...
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from quantize_targets import interleaved_ms  # noqa: E402  (sibling script: one interleaved timing loop)

import edgezoo  # noqa: E402,F401  (torchvision shim before timm)
from edgezoo.artifact import read_artifact  # noqa: E402
from edgezoo.bench.measure import dummy_input  # noqa: E402
from edgezoo.runtime.engines import SessionOptions, open_session  # noqa: E402

ROUNDS, PER_ROUND, WARMUP = 8, 8, 5


def time_model(artifacts: Path, model: str) -> dict[str, object]:
    fp32 = read_artifact(artifacts / f"{model}.onnx")
    int8 = read_artifact(artifacts / f"{model}.int8.onnx")
    x, xi = dummy_input(fp32), dummy_input(int8)
    ways = {
        "ov fp32 f32": (open_session(fp32, "openvino", SessionOptions(threads=1, precision="f32")), x),
        "ov fp32 bf16": (open_session(fp32, "openvino", SessionOptions(threads=1, precision="bf16")), x),
        "ort fp32": (open_session(fp32, "onnxruntime", SessionOptions(threads=1)), x),
        "ov int8 (card)": (open_session(int8, "openvino", SessionOptions(threads=1)), xi),
        "ov int8 default": (open_session(int8, "openvino", SessionOptions(threads=1, precision="default")), xi),
        "ort int8": (open_session(int8, "onnxruntime", SessionOptions(threads=1)), xi),
    }
    result: dict[str, object] = dict(interleaved_ms(ways, ROUNDS, PER_ROUND, warmup=WARMUP))
    fidelity = int8.card["quantization"]["fidelity"]
    result["logit_cosine_mean"] = fidelity["logit_cosine_mean"]
    result["top1_agreement"] = fidelity["top1_agreement"]
    result["config"] = int8.card["quantization"]["config_file"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "zoo_cnn_int8.json")
    args = parser.parse_args()
    doc = json.loads(args.out.read_text()) if args.out.exists() else {"results": {}}
    flags = Path("/proc/cpuinfo").read_text().split("flags")[1].split("\n")[0] if Path("/proc/cpuinfo").exists() else ""
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile") if f" {f}" in flags]
    doc["machine"] = {"cpu": platform.processor() or platform.machine(), "isa": isa}
    for model in args.models:
        doc["results"][model] = time_model(args.artifacts, model)
        print(model, json.dumps(doc["results"][model]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
