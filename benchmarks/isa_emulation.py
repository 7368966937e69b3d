"""OpenVINO int8 ways timed with oneDNN limited to an older ISA: a stand-in for hosts the team cannot reach.

    python benchmarks/isa_emulation.py --artifacts-dir DIR --calib DIR [--models a,b] [--isa AVX2]
        [--gelu-bound fastvit_t8] [--candidates fastvit_t8] [--no-eager] [--rounds 12] [--json PATH] [--md PATH]

``calib`` is what ``python benchmarks/make_calib.py calib`` writes (the documented runs' calibration
set); float and int8 artifacts missing from ``--artifacts-dir`` are exported and quantized with the
shipped configs, and the NNCF peer is made there as ``edgezoo bench`` makes it.

For each model, edgezoo's int8 artifact, OpenVINO + NNCF default int8 (the bench's peer), the float
export in OpenVINO and reparameterized PyTorch eager are timed side by side (interleaved rounds,
1 thread), once on this CPU as it is and once with ``ONEDNN_MAX_CPU_ISA`` set (default AVX2: what an
AVX2-only Zen 3 or older Xeon runs) and PyTorch's ``ATEN_CPU_CAPABILITY`` to match.

What the limit stands for and what it does not:
- OpenVINO's CPU plugin takes its convolution, matmul and most reorder kernels from oneDNN, which
  honours the limit; the script records every convolution's kernel and says whether any still names
  an ISA above the limit (``limit_effective``).
- OpenVINO's own JIT kernels (element-wise subgraphs, some data movement) and its bf16 detection read
  CPUID, so under the limit every way runs with the f32 hint (an AVX2 host has no bf16 either).
- PyTorch's convolutions come from its own oneDNN, which honours the same limit (its verbose mode
  prints ``isa:Intel AVX2`` under it); its other kernels follow ``ATEN_CPU_CAPABILITY`` (recorded).
- ONNX Runtime (MLAS) picks its kernels from CPUID and has no such switch: it is not timed here.
- The cores are still this CPU's: only ratios within one run mean anything, never the milliseconds.

``--gelu-bound MODEL`` adds two what-ifs for models with erf GELU (FastViT, EfficientFormer): the float
export with every GELU replaced by ReLU (the cheapest activation a conv can fuse: an upper bound on
what any Q/DQ placement or precision choice could gain by making the activation cheaper) and by
x*sigmoid(1.702x) (a cheaper approximation), each quantized with the model's shipped config. They
change the model; they are bounds, not recipes.

``--candidates MODEL`` adds the OpenVINO recipes ``edgezoo tune`` would try for the model on a host of
the limited ISA (tune/candidates.py, with that host's flags), each quantized here with
``edgezoo quantize --config``: which recipe is fastest there, as far as the limit can show it. (Made on
this host, their weights have this host's width; the kernels and their speed do not depend on it.)

Writes benchmarks/results/isa_emulation.json and docs/isa_emulation.md (``--json``, ``--md``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgezoo.fsutil import sha256_file, write_json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from child_run import add_output_options, publish, rewrite_markdown, run_child, serve_child  # noqa: E402

SEEDS = "fastvit_t8,fastvit_t12,fastvit_s12,fastvit_sa12,efficientformer_l1,efficientformer_l3"
LIMIT_ENV = "ONEDNN_MAX_CPU_ISA"
ATEN_ENV = "ATEN_CPU_CAPABILITY"  # PyTorch's own vectorized kernels: default | avx2 | avx512
EAGER = "reparameterized eager"
# oneDNN's ISA names (its documentation's ONEDNN_MAX_CPU_ISA values) -> kernel-name tags above them.
ABOVE = {
    "AVX2": ("avx512", "amx", "avx2_vnni"),
    "AVX2_VNNI": ("avx512", "amx"),
    "AVX512_CORE": ("vnni", "bf16", "amx"),
    "AVX512_CORE_VNNI": ("bf16", "amx"),
}
# The flags of a host of each limit, for the recipes tune would list there.
LIMIT_FLAGS = {
    "AVX2": ("avx2", "fma"),
    "AVX2_VNNI": ("avx2", "fma", "avx_vnni"),
    "AVX512_CORE": ("avx2", "fma", "avx512f"),
    "AVX512_CORE_VNNI": ("avx2", "fma", "avx512f", "avx512_vnni"),
}
ATEN_CAPABILITY = {"AVX2": "avx2", "AVX2_VNNI": "avx2", "AVX512_CORE": "avx512", "AVX512_CORE_VNNI": "avx512"}


# --------------------------------------------------------------------------- child: one timing run


def _time_ways(spec: dict[str, Any]) -> dict[str, Any]:
    """Compile every way under this process's environment, time them interleaved, record kernels."""
    import numpy as np
    import openvino as ov

    from edgezoo.runtime.timing import interleaved_ms

    core = ov.Core()
    runs, precision, kernels = {}, {}, {}
    capability = None
    for way in spec["ways"]:
        if way.get("engine") == "torch":
            import torch

            from edgezoo.artifact import read_artifact
            from edgezoo.runtime.engines import SessionOptions, open_session

            session = open_session(read_artifact(way["path"]), "torch", SessionOptions(threads=1))
            shape = (1, 3, *session.artifact.card["input"]["shape"][2:])
            x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            runs[way["label"]] = lambda session=session, x=x: session.run(x)
            precision[way["label"]] = "f32"
            capability = torch.backends.cpu.get_cpu_capability()
            continue
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1}
        if way["hint"]:
            config["INFERENCE_PRECISION_HINT"] = way["hint"]
        compiled = core.compile_model(way["path"], "CPU", config)
        port = compiled.input(0)
        dtype = port.element_type.to_dtype()
        rng, shape = np.random.default_rng(0), list(port.shape)
        floats = dtype == np.float32  # the float export; edgezoo's int8 takes uint8 camera frames
        x = rng.standard_normal(shape).astype(dtype) if floats else rng.integers(0, 256, size=shape).astype(dtype)
        request = compiled.create_infer_request()
        runs[way["label"]] = lambda request=request, x=x: request.infer({0: x})
        precision[way["label"]] = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        names: dict[str, int] = {}
        for op in compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            if info["layerType"].astype(str) in ("Convolution", "GroupConvolution"):
                kernel = info["primitiveType"].astype(str)
                names[kernel] = names.get(kernel, 0) + 1
        kernels[way["label"]] = names
    ms = interleaved_ms(runs, rounds=spec["rounds"], per_round=5)
    return {"ms": ms, "precision": precision, "conv_kernels": kernels, "torch_cpu_capability": capability}


def _run_child(ways: list[dict[str, Any]], rounds: int, isa: str | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in (LIMIT_ENV, ATEN_ENV)}
    if isa:
        env[LIMIT_ENV] = isa
        env[ATEN_ENV] = ATEN_CAPABILITY[isa]
    return run_child(__file__, {"ways": ways, "rounds": rounds}, env, f"timing under {isa or 'native'}")


# --------------------------------------------------------------------------- artifacts


def _quantize(float_onnx: Path, calib: Path, out_dir: Path, config: Path | None = None) -> Path:
    """``edgezoo quantize`` with the model's shipped config (or ``config``), as a user would run it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "edgezoo.cli", "quantize", str(float_onnx), "--calib", str(calib)]
    cmd += ["-o", str(out_dir), "--force", "--num-holdout", "8"]
    cmd += ["--config", str(config)] if config else []
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"isa_emulation: {' '.join(cmd)} failed: {out.stderr.strip()[-300:]}")
    return out_dir / float_onnx.name.replace(".onnx", ".int8.onnx")


def _swap_gelu(float_art: Any, kind: str, out_dir: Path) -> Path:
    """The float export with every erf GELU (x * 0.5 * (1 + erf(x / sqrt 2))) replaced; its card beside it."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(float_art.onnx_path))
    graph = model.graph
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producer = {o: n for n in graph.node for o in n.output}
    replaced: dict[int, list[Any]] = {}
    dropped: set[int] = set()
    for k, erf in enumerate(n for n in graph.node if n.op_type == "Erf"):
        div = producer[erf.input[0]]
        add = consumers[erf.output[0]][0]
        mul = consumers[add.output[0]][0]
        half = consumers[mul.output[0]][0]
        x, y = div.input[0], half.output[0]
        if kind == "relu":
            new = [helper.make_node("Relu", [x], [y], name=f"gelu_bound_{k}")]
        else:
            beta = f"gelu_bound_{k}_beta"
            graph.initializer.append(numpy_helper.from_array(np.array(1.702, np.float32), beta))
            new = [
                helper.make_node("Mul", [x, beta], [f"{beta}_x"], name=f"gelu_bound_{k}_scale"),
                helper.make_node("Sigmoid", [f"{beta}_x"], [f"{beta}_s"], name=f"gelu_bound_{k}_sigmoid"),
                helper.make_node("Mul", [x, f"{beta}_s"], [y], name=f"gelu_bound_{k}_gate"),
            ]
        replaced[id(div)] = new
        dropped |= {id(div), id(erf), id(add), id(mul), id(half)}
    nodes = []
    for node in graph.node:
        nodes += replaced.get(id(node), [] if id(node) in dropped else [node])
    del graph.node[:]
    graph.node.extend(nodes)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / float_art.onnx_path.name
    onnx.save(model, str(out))
    card = {**float_art.card, "sha256": sha256_file(out)}
    card["note"] = f"benchmarks/isa_emulation.py: every erf GELU replaced by {kind} (a bound, not the model)"
    write_json(out.with_suffix(".json"), card)
    return out


def _candidate_ways(fp32: Any, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """tune's OpenVINO candidates for a host of the limited ISA, other than the shipped config."""
    from edgezoo.host import Host
    from edgezoo.quantize.api import config_for
    from edgezoo.quantize.config import to_yaml
    from edgezoo.tune.candidates import SHIPPED, candidates

    host = Host(f"{LIMIT_ENV}={args.isa}", "x86_64", LIMIT_FLAGS[args.isa])
    ways = []
    for recipe in candidates(config_for(None, fp32), host):
        cfg = recipe.config
        if cfg is None or recipe.name == SHIPPED or cfg.engine["runtime"] != "openvino":
            continue  # auto-float-layers needs a fidelity pass; ONNX Runtime ignores the limit
        if recipe.name == "8-bit-weights":
            continue  # what `reduce_range: auto` makes on this (VNNI) host anyway: the shipped row
        path = work / f"{fp32.model_name}_{recipe.name}.yaml"
        path.write_text(to_yaml(cfg, f"tune candidate {recipe.name}: {recipe.change}"), encoding="utf-8")
        int8 = _quantize(fp32.onnx_path, args.calib, work / f"{fp32.model_name}_{recipe.name}", path)
        ways.append({"label": f"tune: {recipe.name}", "path": str(int8), "hint": cfg.engine["precision_hint"]})
    return ways


def _ways(model: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    from edgezoo.bench.targets import PlanRequest, find_int8, find_or_export_fp32, nncf_default

    fp32 = find_or_export_fp32(model, args.artifacts_dir)
    int8s = find_int8(model, args.artifacts_dir)
    if not int8s and args.calib is None:
        raise SystemExit(f"isa_emulation: no {model}.int8.onnx in {args.artifacts_dir}: give --calib to make it")
    int8 = int8s[0].onnx_path if int8s else _quantize(fp32.onnx_path, args.calib, args.artifacts_dir)
    hint = json.loads(int8.with_suffix(".json").read_text(encoding="utf-8")).get("precision_hint")
    nncf, _ = nncf_default(fp32, PlanRequest(items=(model,), artifacts_dir=args.artifacts_dir, calib=args.calib))
    ways = [
        {"label": "edgezoo int8", "path": str(int8), "hint": hint},
        {"label": "NNCF default int8", "path": str(nncf), "hint": None},
        {"label": "OpenVINO float, default precision", "path": str(fp32.onnx_path), "hint": None},
        {"label": "OpenVINO float, f32", "path": str(fp32.onnx_path), "hint": "f32"},
    ]
    if args.eager:
        ways.append({"label": EAGER, "path": str(fp32.onnx_path), "hint": None, "engine": "torch"})
    if model in args.candidates:
        ways += _candidate_ways(fp32, args, work)
    if model in args.gelu_bound:
        for kind, label in (("relu", "int8, GELU -> ReLU (bound)"), ("sigmoid", "int8, GELU -> x*sigmoid(1.702x)")):
            swapped = _swap_gelu(fp32, kind, work / f"{model}_{kind}")
            ways.append({"label": label, "path": str(_quantize(swapped, args.calib, work / f"{model}_{kind}_int8")),
                         "hint": hint})  # fmt: skip
    return ways


# --------------------------------------------------------------------------- report


def _summary(run: dict[str, Any], limit: str | None) -> dict[str, Any]:
    ms = run["ms"]
    nncf = ms["NNCF default int8"]
    best_float = min(v for k, v in ms.items() if k.startswith("OpenVINO float"))
    eager = ms.get(EAGER)
    above = ABOVE.get(limit or "", ())
    leaked = sorted({k for ks in run["conv_kernels"].values() for k in ks if any(tag in k for tag in above)})
    return {
        **run,
        "vs_nncf": {k: nncf / v for k, v in ms.items()},
        "vs_best_float": {k: best_float / v for k, v in ms.items()},
        "vs_eager": {k: eager / v for k, v in ms.items()} if eager else None,
        "limit_effective": not leaked if limit else None,
        "kernels_above_limit": leaked,
    }


def _markdown(doc: dict[str, Any]) -> str:
    limit = doc["isa_limit"]
    cpu = doc["machine"]["cpu"]
    lines = [
        "# OpenVINO int8 with oneDNN limited to an older ISA",
        "",
        "Generated by `benchmarks/isa_emulation.py` (data: `benchmarks/results/isa_emulation.json`); what the",
        "limit stands for and what it does not: that script's docstring. Reading: docs/tune.md",
        '("AVX2 hosts: what int8 can gain there").',
        "",
        f"Command: `{doc['command']}`  ",
        f"Date: {doc['created']}  ",
        f"Machine: {cpu['model']}, ISA class {cpu['isa']} (flags {' '.join(cpu['flags'])}), "
        f"{cpu['usable_cores']} usable cores; OpenVINO {doc['machine']['versions'].get('openvino')}  ",
        f"Limited runs: `{LIMIT_ENV}={limit}` and `{ATEN_ENV}`, every way with the f32 hint. 1 thread,"
        f" medians of interleaved rounds ({doc['rounds']} rounds x 5 calls); ratios are within one run, the"
        " milliseconds are this CPU's.",
        "",
        f"| model | way | native ms | native vs NNCF | native vs eager | {limit}-limited ms |"
        f" {limit}-limited vs NNCF | {limit}-limited vs best float | {limit}-limited vs eager |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def x(ratios: dict[str, float] | None, way: str) -> str:
        return f"{ratios[way]:.2f}x" if ratios else "-"

    for model, r in doc["models"].items():
        nat, lim = r["native"], r["limited"]
        for way in nat["ms"]:
            lines.append(
                f"| {model} | {way} | {nat['ms'][way]:.2f} | {x(nat['vs_nncf'], way)} | {x(nat['vs_eager'], way)} |"
                f" {lim['ms'][way]:.2f} | {x(lim['vs_nncf'], way)} | {x(lim['vs_best_float'], way)} |"
                f" {x(lim['vs_eager'], way)} |"
            )
    lines.append("")
    for model, r in doc["models"].items():
        lim = r["limited"]
        state = "took effect" if lim["limit_effective"] else f"did NOT take effect ({lim['kernels_above_limit']})"
        kernels = sorted({k for ks in lim["conv_kernels"].values() for k in ks})
        torch_isa = lim.get("torch_cpu_capability")
        eager = f"; PyTorch's own kernels: {torch_isa}" if torch_isa else ""
        lines.append(f"- {model}: the limit {state}; OpenVINO's convolution kernels: {', '.join(kernels)}{eager}")
    return "\n".join(lines) + "\n"


def main() -> None:
    if serve_child(_time_ways):
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=SEEDS)
    ap.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"))
    ap.add_argument("--calib", type=Path, default=None, help="calibration images (NNCF peer; int8 if missing)")
    ap.add_argument("--isa", default="AVX2", choices=sorted(ABOVE), help=f"the {LIMIT_ENV} value")
    ap.add_argument("--gelu-bound", default="", help="models to add the GELU what-ifs for (comma-separated)")
    ap.add_argument("--candidates", default="", help="models to add tune's OpenVINO candidates for (comma-separated)")
    ap.add_argument("--no-eager", dest="eager", action="store_false", help="leave out PyTorch eager (slow to build)")
    ap.add_argument("--rounds", type=int, default=12)
    add_output_options(ap, "isa_emulation")
    args = ap.parse_args()
    if args.from_json:
        rewrite_markdown(args.json, args.md, _markdown)
        return
    args.gelu_bound = [m for m in args.gelu_bound.split(",") if m]
    args.candidates = [m for m in args.candidates.split(",") if m]
    if (args.gelu_bound or args.candidates) and args.calib is None:
        ap.error("--gelu-bound and --candidates quantize: give --calib")

    from edgezoo.artifact import command_line, now_iso
    from edgezoo.bench.machine import machine_info
    from edgezoo.progress import track

    models: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="edgezoo-isa-") as tmp:
        for model in track([m for m in args.models.split(",") if m], "models"):
            ways = _ways(model, args, Path(tmp))
            native = _summary(_run_child(ways, args.rounds, None), None)
            limited_ways = [{**w, "hint": "f32"} for w in ways]  # no bf16 under an AVX2 limit
            limited = _summary(_run_child(limited_ways, args.rounds, args.isa), args.isa)
            models[model] = {"native": native, "limited": limited}
            print(f"{model}: int8 vs NNCF {native['vs_nncf']['edgezoo int8']:.2f}x native,"
                  f" {limited['vs_nncf']['edgezoo int8']:.2f}x {args.isa}-limited", file=sys.stderr)  # fmt: skip
    doc = {
        "schema": "edgezoo.isa_emulation/1",
        "created": now_iso(),
        "command": command_line(),
        "machine": machine_info(),
        "isa_limit": args.isa,
        "rounds": args.rounds,
        "models": models,
    }
    publish(doc, args.json, args.md, _markdown)


if __name__ == "__main__":
    main()
