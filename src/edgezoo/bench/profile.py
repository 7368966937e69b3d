"""Where the time goes inside one inference: per-operator times from the engines' own profilers.

ONNX Runtime writes a Chrome-trace JSON with one event per executed node (``enable_profiling``);
OpenVINO reports per-node real time and the kernel it chose (``PERF_COUNT`` and
``get_profiling_info``). The kernel name matters as much as the time: OpenVINO's ``exec_type`` says
whether an int8 convolution really ran an int8 kernel (``..._I8``) or fell back to float, and a
node ORT executes as ``DequantizeLinear`` + fp32 ``Conv`` + ``QuantizeLinear`` shows the same thing.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class OpTime:
    """Total time of one operator type (and, for OpenVINO, kernel) per inference."""

    op: str
    kernel: str
    ms: float
    count: int  # nodes of this kind executed per inference

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _table(acc: dict[tuple[str, str], list[float]], runs: int) -> list[OpTime]:
    rows = [OpTime(op, kernel, sum(v) / runs, round(len(v) / runs)) for (op, kernel), v in acc.items()]
    return sorted(rows, key=lambda r: r.ms, reverse=True)


def profile_onnxruntime(path: Path, x: np.ndarray, threads: int = 1, runs: int = 20) -> list[OpTime]:
    """Per-op-type kernel time (ms per inference) under ONNX Runtime's CPU provider."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for _ in range(5):  # warm-up runs are profiled too: skip them below by counting
            session.run(None, {name: x})
        for _ in range(runs):
            session.run(None, {name: x})
        trace = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    node_events = [e for e in trace if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    per_run = len(node_events) // (runs + 5)
    acc: dict[tuple[str, str], list[float]] = defaultdict(list)
    for e in node_events[-per_run * runs :]:
        args = e.get("args", {})
        acc[(args.get("op_name", "?"), args.get("provider", "").replace("ExecutionProvider", ""))].append(
            e["dur"] / 1000.0
        )
    return _table(acc, runs)


def profile_openvino(
    path: Path, x: np.ndarray, threads: int = 1, runs: int = 20, precision: str | None = None
) -> list[OpTime]:
    """Per-node-type time (ms per inference) and chosen kernel under OpenVINO's CPU plugin."""
    import openvino as ov

    config: dict[str, Any] = {"PERF_COUNT": True, "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    for _ in range(5):
        request.infer({0: x})
    acc: dict[tuple[str, str], list[float]] = defaultdict(list)
    for _ in range(runs):
        request.infer({0: x})
        for info in request.get_profiling_info():
            if info.status == info.Status.EXECUTED:
                acc[(info.node_type, info.exec_type)].append(info.real_time.total_seconds() * 1000.0)
    return _table(acc, runs)


def markdown_table(rows: list[OpTime], top: int = 12) -> list[str]:
    total = sum(r.ms for r in rows) or 1.0
    lines = ["| op | kernel | nodes | ms / inference | share |", "|---|---|---|---|---|"]
    for r in rows[:top]:
        lines.append(f"| {r.op} | {r.kernel} | {r.count} | {r.ms:.2f} | {100 * r.ms / total:.0f}% |")
    lines.append(f"| all ops | | {sum(r.count for r in rows)} | {total:.2f} | 100% |")
    return lines
