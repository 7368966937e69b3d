"""Fidelity of edgezoo's int8 on another CPU's own int8 kernels, in both engines: EfficientNet-Lite0 with
its real weights, run on this CPU and inside QEMU as a Zen 3 (AVX2 only) or as ARM cores.

    python benchmarks/qemu_fidelity.py [--cpu EPYC-Milan] [--cpuinfo tests/data/cpuinfo/zen3.txt]
        [--held-per-photo 10] [--json PATH] [--md PATH]
    python benchmarks/qemu_fidelity.py --target arm [--arm-cpu cortex-a55 ...] [--arm-dir DIR]
        [--arm-qemu qemu-aarch64]
    python benchmarks/qemu_fidelity.py [--target arm] --photos ~/.cache/edgezoo/photos
    python benchmarks/qemu_fidelity.py --no-qemu --photos ~/.cache/edgezoo/photos   # this CPU only

Issue 15 saw lite0 lose fidelity on a Zen 3 (AVX2, no VNNI), where int8 kernels sum u8 x s8 products
in pairs in 16 bits and can saturate; edgezoo's answer is 7-bit weights on such hosts
(``engine.reduce_range: auto``). ``tests/emulate/avx2`` could check it for OpenVINO only (oneDNN
obeys an ISA limit; ONNX Runtime has no switch). Here the check runs under QEMU user mode
(tests/emulate/qemu_host.py), where every library reads the emulated CPU's CPUID, so ONNX Runtime's
MLAS runs its AVX2 kernels too, with their saturation (QEMU implements the instructions exactly).

Lite0 is exported with its packaged weights and quantized here with its shipped config, weights in 7
bits and in 8 bits, as uint8 (``engine.weights: uint8``, 8 bits with zero points), and (tune's
``no-float-layers`` candidate) with 8-bit weights and its float layers back to int8; all calibrated
on views of four bundled photos. A child process then runs the int8
artifacts in ONNX Runtime and OpenVINO on held-out views of five other photos and compares their
logits with the float export in ONNX Runtime on the same CPU: once natively, once under QEMU. The
child records the CPU it saw (NumPy's feature detection, OpenVINO's capabilities, edgezoo's host).
QEMU translates every instruction: nothing here is timed.

Views cropped from five photos are few scenes: a bar of 0.99 on their 44 clear images is met or
missed by one near-threshold image, and views of one photo are not independent trials. ``--photos
DIR`` (a few hundred distinct real photos, benchmarks/fetch_photos.py) calibrates on every other
photo and holds out the rest, each whole, as generic_targets.py's split C does: independent images,
for which the table gives the 95% Wilson interval of the clear-image agreement.

``--target arm`` runs the child in an aarch64 Python (tests/emulate/qemu_arm.py, built in ``--arm-dir``
when missing) once per ``--arm-cpu``: the Cortex-A55 of the RDK X5 (int8 dot product) by default, and
e.g. the Cortex-A53 (none). The artifacts are still made here, as one quantizes on a workstation and
deploys on a board; an engine that refuses an artifact on the emulated core gets a row saying why.

``--no-qemu`` keeps only the native run: on a host of the ISA that QEMU stands in for (a real Zen 3,
say), it checks the emulated figures against the silicon's.

Writes benchmarks/results/qemu_fidelity.json and docs/qemu_fidelity.md (``--json``, ``--md``),
qemu_fidelity_arm.json and .md with ``--target arm``, or native_fidelity_<ISA class>.json and .md with
``--no-qemu``; ``_photos`` is appended with ``--photos``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT / "tests" / "emulate")]
import qemu_arm  # noqa: E402  (the harnesses live with the other emulation harnesses)
import qemu_host  # noqa: E402
from child_run import add_output_options, publish, rewrite_markdown, run_child, serve_child  # noqa: E402

from edgezoo.agreement import wilson_interval  # noqa: E402

MODEL = "tf_efficientnet_lite0"
CALIB_PHOTOS = ("chelsea", "astronaut", "rocket", "hubble_deep_field")
HELD_OUT_PHOTOS = ("grace_hopper", "coffee", "motorcycle_left", "motorcycle_right", "camera")
NO_FLOAT = "8-bit weights, no float layers"
# label -> the engine settings changed from lite0's shipped config (NO_FLOAT also has its float layers
# back to int8). uint8: asymmetric weights, which ONNX Runtime multiplies without 16-bit saturation
# (OpenVINO runs those convolutions in f32: its row shows the weights' rounding alone).
ARTIFACTS: dict[str, dict[str, Any]] = {
    "7-bit weights": {"reduce_range": True},
    "8-bit weights": {"reduce_range": False},
    NO_FLOAT: {"reduce_range": False},
    "8-bit uint8 weights": {"weights": "uint8", "runtime": "onnxruntime", "precision_hint": None},
}
ENGINES = ("onnxruntime", "openvino")
MARGIN = 0.05  # the clear-image band
# NumPy's names for the features that pick int8/float kernels, x86 and ARM.
X86_FEATURES = ("AVX2", "FMA3", "AVX512F", "AVX512VNNI", "AVX512BF16")
ARM_FEATURES = ("ASIMD", "ASIMDHP", "ASIMDDP", "ASIMDFHM")
NUMPY_FEATURES = X86_FEATURES + ARM_FEATURES


def _cpu_seen() -> dict[str, Any]:
    """What this process's libraries detect: the proof that the emulation took (or that it did not)."""
    import openvino as ov
    from numpy._core._multiarray_umath import __cpu_features__ as numpy_features

    from edgezoo.host import current_host
    from edgezoo.runtime.engines import ov_type_name

    core = ov.Core()
    return {
        "numpy": {k: bool(numpy_features[k]) for k in NUMPY_FEATURES if k in numpy_features},
        "openvino": list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")),
        "openvino_default_precision": ov_type_name(core.get_property("CPU", "INFERENCE_PRECISION_HINT")),
        "edgezoo_host_isa": current_host().isa_class,
        "edgezoo_host_cpu": current_host().model,
    }


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Both int8 artifacts in both engines against the float export, on the CPU this process sees."""
    from edgezoo.agreement import band_at, compare_logits, top2_margin
    from edgezoo.artifact import read_artifact
    from edgezoo.errors import EngineRefused
    from edgezoo.inputs.preprocess import load_image, resize_crop
    from edgezoo.quantize.config import load_config
    from edgezoo.quantize.frontend import FrontEnd, InputSpec
    from edgezoo.runtime.engines import engine_precision, open_session
    from edgezoo.zoo.registry import get_card

    card = get_card(MODEL)
    files = sorted(Path(spec["held_out"]).iterdir())
    crops = [resize_crop(load_image(p), card.img_size, card.crop_pct, card.interpolation) for p in files]
    front = FrontEnd(InputSpec.from_config(load_config(spec["config"]).input, card), card)
    reference = open_session(read_artifact(Path(spec["float"])), "onnxruntime")
    ref = [reference.run(front.model_input(c)) for c in crops]
    margins = [top2_margin(r) for r in ref]  # the reference's, the same for every artifact and engine
    frames = [front.frames(c) for c in crops]
    results: dict[str, Any] = {}
    for label, path in spec["int8"].items():
        artifact = read_artifact(Path(path))
        for engine in ENGINES:
            try:
                session = open_session(artifact, engine)
            except EngineRefused as exc:  # the engine's build for this CPU refuses the graph: a row saying so
                results[f"{label} / {engine}"] = {"weights": label, "engine": engine, "refused": exc.reason}
                continue
            got = [session.run(f) for f in frames]
            fid = compare_logits(ref, got)
            clear = band_at(fid, MARGIN)
            flips = [m for r, q, m in zip(ref, got, margins, strict=True) if r.argmax() != q.argmax()]
            results[f"{label} / {engine}"] = {
                "weights": label,
                "engine": engine,
                "precision": engine_precision(session),
                "images": fid["images"],
                "logit_cosine_mean": fid["logit_cosine_mean"],
                "logit_cosine_min": fid["logit_cosine_min"],
                "top1_agreement": fid["top1_agreement"],
                "clear_images": clear["images"] if clear else 0,
                "clear_top1_agreement": clear["top1_agreement"] if clear else None,
                "top1_changes_float_margins": sorted(round(m, 4) for m in flips),
            }
    return {"cpu_seen": _cpu_seen(), "results": results}


def _images(work: Path, held_per_photo: int, photos: Path | None) -> tuple[Path, Path]:
    """The calibration and held-out folders: views of the bundled photos, or split C of ``photos``."""
    if photos is not None:
        from quantize_targets import split_photos  # imports PyTorch: the parent's side only

        return split_photos(work, photos)
    from edgezoo.inputs.samples import more_photos, sample_photos, write_photo_variants

    bundled = {p.stem: p for p in sample_photos() + more_photos()}
    missing = [n for n in CALIB_PHOTOS + HELD_OUT_PHOTOS if n not in bundled]
    if missing:
        raise SystemExit(f"qemu_fidelity: sample photos missing ({', '.join(missing)}): pip install edgezoo[samples]")
    write_photo_variants([bundled[n] for n in CALIB_PHOTOS], work / "calib", per_photo=4, seed=1)
    write_photo_variants([bundled[n] for n in HELD_OUT_PHOTOS], work / "held_out", per_photo=held_per_photo, seed=2)
    return work / "calib", work / "held_out"


def _prepare(work: Path, held_per_photo: int, photos: Path | None) -> dict[str, Any]:
    """Export lite0 with its packaged weights, write the images and the int8 artifacts."""
    from edgezoo.export.to_onnx import export
    from edgezoo.quantize.api import quantize_artifact
    from edgezoo.quantize.config import load_config
    from edgezoo.zoo.registry import get_card

    calib, held = _images(work, held_per_photo, photos)
    fp32, _ = export(get_card(MODEL), pretrained=True, out_dir=work / "fp32")
    if fp32.card["weights"]["kind"] != "package":
        raise SystemExit(f"qemu_fidelity: {MODEL} got no real weights ({fp32.card['weights']['kind']})")
    int8 = {}
    for i, (label, engine) in enumerate(ARTIFACTS.items()):
        changes: dict[str, Any] = {"base": MODEL, "engine": engine}
        if label == NO_FLOAT:
            changes["precision"] = {"nodes": {n: "int8" for n in load_config(MODEL).overrides()["nodes"]}}
        cfg = work / f"a{i}.yaml"
        cfg.write_text(yaml.safe_dump(changes), encoding="utf-8")
        done = quantize_artifact(fp32, calib, config=load_config(cfg), holdout_dir=held, out_dir=cfg.with_suffix(""))
        int8[label] = str(done.artifact.onnx_path)
    return {"float": str(fp32.onnx_path), "int8": int8, "held_out": str(held), "config": MODEL}


def _cpu_view(seen: dict[str, Any]) -> str:
    """What the child's libraries saw, in a few words: NumPy's kernel features, OpenVINO's default."""
    have = [k for k, v in seen["numpy"].items() if v]
    family = ARM_FEATURES if set(have) & set(ARM_FEATURES) else X86_FEATURES  # "no ..." within the CPU's own
    lacks = [k for k, v in seen["numpy"].items() if not v and k in family]
    numpy = " ".join(have) + (f" (no {'/'.join(lacks)})" if lacks else "")
    default = seen.get("openvino_default_precision") or ("bf16" if "BF16" in seen["openvino"] else "f32")
    return f"NumPy: {numpy}; OpenVINO float default {default}; edgezoo: {seen['edgezoo_host_isa']}"


def _name(arm: bool, photos: bool, native: str | None = None) -> str:
    """The results' file name: one per target and image set, or per native ISA class with --no-qemu."""
    if native:
        return f"native_fidelity_{native}" + ("_photos" if photos else "")
    return ("qemu_fidelity_arm" if arm else "qemu_fidelity") + ("_photos" if photos else "")


def _images_text(doc: dict[str, Any]) -> str:
    """Which images calibrated and which were held out, in a sentence."""
    if doc.get("photos"):
        return (
            f"split C of {doc['photos']} distinct real photos (benchmarks/fetch_photos.py): every other photo"
            " calibrates, the rest are held out, each whole, so the held-out images are independent trials."
        )
    return (
        f"calibration on views of {', '.join(CALIB_PHOTOS)}; held out: {doc.get('held_per_photo', 10)} views"
        f" of each of {', '.join(HELD_OUT_PHOTOS)} (views of one photo are not independent trials)."
    )


def _markdown(doc: dict[str, Any]) -> str:
    cpu = doc["machine"]["cpu"]
    arm = doc.get("target") == "arm"
    native = cpu["isa"] if doc.get("native_only") else None
    if native:
        title = f"# int8 fidelity on this host's own kernels ({native}, no emulation)"
        emulated = "Emulated: nothing; the same child as the QEMU runs, on this CPU only (`--no-qemu`)  "
        reading = 'Reading: docs/tune.md ("Clear-image agreement on distinct photos, per ISA").'
    elif arm:
        title = "# int8 fidelity on ARM cores' kernels (QEMU aarch64)"
        emulated = (
            f"Emulated: `qemu-aarch64 -cpu` {', '.join(f'`{c}`' for c in doc['qemu_cpus'])}, an aarch64 Python"
            " (tests/emulate/qemu_arm.py); edgezoo reads QEMU's own /proc/cpuinfo  "
        )
        reading = 'Reading: docs/tune.md ("ARM hosts").'
    else:
        title = "# int8 fidelity on an AVX2-only host's kernels (QEMU)"
        emulated = f"Emulated: `qemu-x86_64 -cpu {doc['qemu_cpu']}`, edgezoo told the host is `{doc['cpuinfo']}`  "
        reading = 'Reading: docs/tune.md ("AVX2 hosts").'
    if doc.get("photos") and not native:
        reading = 'Reading: docs/tune.md ("Clear-image agreement on distinct photos, per ISA").'
    lines = [
        title,
        "",
        "Generated by `benchmarks/qemu_fidelity.py` (data: `benchmarks/results/"
        f"{_name(arm, bool(doc.get('photos')), native)}.json`); what it",
        f"does and why: that script's docstring. {reading}",
        "",
        f"Command: `{doc['command']}`  ",
        f"Date: {doc['created']}  ",
        f"Machine: {cpu['model']}, ISA class {cpu['isa']} (flags {' '.join(cpu['flags'])})  ",
        emulated,
        f"Model: {MODEL}, packaged real weights, its shipped config; float reference: the float export in",
        f"ONNX Runtime on the same CPU. Clear images: float top-1 leads by >= {MARGIN}.  ",
        f"Images: {_images_text(doc)}",
        "",
        "| run | CPU the libraries saw | artifact | engine | float ops in | images | logit cosine mean | min |"
        " top-1 agreement | clear images | clear top-1 agreement | 95% interval | float margins where top-1 changed |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    independent = bool(doc.get("photos"))
    for where, run in doc["runs"].items():
        view = _cpu_view(run["cpu_seen"])
        for r in run["results"].values():
            if "refused" in r:
                refused = f"| {where} | {view} | {r['weights']} | {r['engine']} | refused: {r['refused']} |"
                lines.append(refused + " |" * 8)
                continue
            clear = "n/a" if r["clear_top1_agreement"] is None else f"{r['clear_top1_agreement']:.3f}"
            flips = ", ".join(f"{m:.3f}" for m in r["top1_changes_float_margins"]) or "-"
            low_high = wilson_interval(r["clear_top1_agreement"], r["clear_images"])
            interval = f"{low_high[0]:.3f}-{low_high[1]:.3f}" if low_high else "n/a"
            lines.append(
                f"| {where} | {view} | {r['weights']} | {r['engine']} | {r['precision'] or 'fp32'} | {r['images']} |"
                f" {r['logit_cosine_mean']:.4f} | {r['logit_cosine_min']:.4f} | {r['top1_agreement']:.3f} |"
                f" {r['clear_images']} | {clear} | {interval if independent else interval + ' (views: too narrow)'} |"
                f" {flips} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    if serve_child(_child):
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=("x86", "arm"), default="x86", help="x86: a Zen 3 (AVX2); arm: aarch64 cores")
    ap.add_argument("--cpu", default=qemu_host.DEFAULT_CPU, help="QEMU x86 CPU model to emulate")
    ap.add_argument("--cpuinfo", type=Path, default=ROOT / "tests" / "data" / "cpuinfo" / "zen3.txt",
                    help="recorded /proc/cpuinfo of that CPU, for edgezoo's host detection")  # fmt: skip
    ap.add_argument("--arm-cpu", action="append", help=f"QEMU aarch64 CPU model(s) (default {qemu_arm.DEFAULT_CPU})")
    ap.add_argument("--arm-dir", type=Path, default=Path.home() / ".cache" / "edgezoo" / "qemu-arm",
                    help="the aarch64 tree of tests/emulate/qemu_arm.py (built there if missing)")  # fmt: skip
    ap.add_argument("--arm-qemu", default=qemu_arm.QEMU, help="qemu-aarch64 binary (8 or later)")
    ap.add_argument("--held-per-photo", type=int, default=10, help="held-out views per photo (5 photos)")
    ap.add_argument("--photos", type=Path, help="distinct real photos (fetch_photos.py): split C instead of views")
    ap.add_argument("--no-qemu", action="store_true", help="only the native run (writes native_fidelity_<ISA class>*)")
    add_output_options(ap, "qemu_fidelity")
    ap.set_defaults(json=None, md=None)
    args = ap.parse_args()
    from edgezoo.host import current_host

    native = current_host().isa_class if args.no_qemu else None
    name = _name(args.target == "arm", args.photos is not None, native)
    args.json = args.json or ROOT / "benchmarks" / "results" / f"{name}.json"
    args.md = args.md or ROOT / "docs" / f"{name}.md"
    if args.from_json:
        rewrite_markdown(args.json, args.md, _markdown)
        return
    if args.target == "x86" and not args.cpuinfo.is_file():
        raise SystemExit(f"{args.cpuinfo}: no such cpuinfo file")

    from edgezoo.artifact import command_line, now_iso
    from edgezoo.bench.machine import machine_info

    native_env = {k: v for k, v in os.environ.items() if k != "EDGEZOO_CPUINFO"}
    doc: dict[str, Any] = {"schema": "edgezoo.qemu_fidelity/2", "target": args.target}
    with tempfile.TemporaryDirectory(prefix="edgezoo-qemu-") as tmp:
        work = Path(tmp)
        spec = _prepare(work, args.held_per_photo, args.photos)
        if args.photos:
            doc["photos"] = len(list((work / "C" / "calib").iterdir())) + len(list((work / "C" / "held_out").iterdir()))
        else:
            doc["held_per_photo"] = args.held_per_photo
        runs = {"this CPU": run_child(__file__, spec, native_env, "the native run")}
        if args.no_qemu:
            doc["native_only"] = True
        elif args.target == "arm":
            cpus = args.arm_cpu or [qemu_arm.DEFAULT_CPU]
            for cpu in cpus:
                python = qemu_arm.make_python(args.arm_dir.resolve(), cpu, args.arm_qemu)
                runs[f"QEMU {cpu}"] = run_child(__file__, spec, native_env, f"the QEMU {cpu} run", python)
            doc["qemu_cpus"] = cpus
        else:
            python = qemu_host.make_python(work / "qemu", args.cpu)
            qemu_env = {**native_env, "EDGEZOO_CPUINFO": str(args.cpuinfo)}
            runs[f"QEMU {args.cpu}"] = run_child(__file__, spec, qemu_env, "the QEMU run", python)
            doc["qemu_cpu"] = qemu_host.cpu_option(args.cpu)
            doc["cpuinfo"] = os.path.relpath(args.cpuinfo, ROOT)
    # The photos' folder as the docs name it (~, not this machine's home).
    command = command_line().replace(str(Path.home()), "~")
    doc.update({"created": now_iso(), "command": command, "machine": machine_info(), "model": MODEL})
    doc["runs"] = runs
    publish(doc, args.json, args.md, _markdown)


if __name__ == "__main__":
    main()
