"""--backend ray: the same per-image predictions and scores as local, a killed worker retried,
failures reported, shipped artifacts, `run` of two models, and the one-line error without Ray.

One local Ray instance (2 CPUs) serves the whole session. Ray is the ``ray`` extra, which the
README's set-up installs; without it these tests are skipped with that reason, except where CI or
EDGEZOO_REQUIRE_RAY is set, where its absence is an error.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import dynamic_int8
from PIL import Image

from edgezoo.artifact import read_artifact
from edgezoo.errors import EdgezooError

if os.environ.get("EDGEZOO_REQUIRE_RAY") or os.environ.get("CI"):
    import ray  # the extra must be there: fail loudly
else:
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'edgezoo[ray]'")

MODEL = "test_efficientnet"  # timm's own tiny test model, random weights: exports in seconds
IMAGES = 12


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance with 2 CPUs for the session; edgezoo's commands use it as it is."""
    from edgezoo.cluster import local_runtime_env

    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            runtime_env=local_runtime_env(),
            logging_level=logging.WARNING,
            log_to_driver=False,  # as edgezoo's own start: workers' output would mix into --json on stdout
        )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A float artifact of a random-weight model and an INT8 one (ONNX Runtime dynamic quantization)."""
    from edgezoo.export.to_onnx import export
    from edgezoo.zoo.registry import get_card

    out = tmp_path_factory.mktemp("artifacts")
    art, _ = export(get_card(MODEL), out_dir=out)
    return art, dynamic_int8(art, out)


@pytest.fixture(scope="module")
def data(tmp_path_factory, artifacts):
    """Images made here, labelled against the float model so that Top-1 and Top-5 differ.

    Image i is labelled with the float model's best class when i % 3 == 0 (a Top-1 hit), its
    third-best when i % 3 == 1 (a Top-5 hit only), and a class outside its top 5 otherwise.
    """
    from edgezoo.evaluate.accuracy import evaluate

    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    names = [f"img{i:02d}.png" for i in range(IMAGES)]
    for i, name in enumerate(names):
        size = (64 + 8 * i, 96 - 4 * i, 3)
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(root / name)
    (root / "val.txt").write_text("".join(f"{n} 0\n" for n in names))
    first = evaluate([artifacts[0]], root, threads=1, workers=0, per_image=True)
    top5 = first["models"][0]["results"][0]["top5_per_image"]
    labels = [
        t[0] if i % 3 == 0 else t[2] if i % 3 == 1 else next(c for c in range(10) if c not in t)
        for i, t in enumerate(top5)
    ]
    (root / "val.txt").write_text("".join(f"{n} {label}\n" for n, label in zip(names, labels, strict=True)))
    return root


def _models(doc: dict) -> list:
    return doc["models"]


def _eval(cli, artifacts, data, *extra: str) -> dict:
    r = cli(
        "eval",
        artifacts[0].onnx_path,
        artifacts[1].onnx_path,
        "--data",
        data,
        "--threads",
        "1",
        "--per-image",
        "--json",
        *extra,
    )
    assert r.code == 0, r.err
    return json.loads(r.out)


@pytest.fixture(scope="module")
def local_doc(artifacts, data):
    from edgezoo.evaluate.accuracy import evaluate

    return evaluate(list(artifacts), data, threads=1, workers=0, per_image=True)


def test_local_reference_counts_what_the_labels_say(local_doc):
    fp32, int8 = local_doc["models"][0]["results"]
    assert (fp32["precision"], int8["precision"]) == ("fp32", "int8")
    assert (fp32["correct_top1"], fp32["correct_top5"]) == (IMAGES // 3, 2 * IMAGES // 3)
    assert local_doc["backend"] == "local" and local_doc["ray"] is None


def test_ray_gives_the_same_predictions_and_scores_as_local(cli, ray_local, artifacts, data, local_doc):
    doc = _eval(cli, artifacts, data, "--backend", "ray", "--workers", "2", "--shard-size", "5")
    assert doc["models"] == local_doc["models"]  # per-image top-5 of float and int8, counts, agreement
    assert doc["dataset"]["images"] == local_doc["dataset"]["images"]
    assert doc["backend"] == "ray"
    info = doc["ray"]
    assert (info["workers"], info["shards"], info["shard_size"], info["nodes"], info["cpus"]) == (2, 3, 5, 1, 2)
    assert info["address"] and info["workers_restarted"] == 0 and not info["ship_artifacts"]
    assert info["artifacts_on_workers"] == [str(a.onnx_path.resolve()) for a in artifacts]


def test_shipped_artifacts_are_read_from_the_workers_own_folder(cli, ray_local, artifacts, data, local_doc):
    doc = _eval(cli, artifacts, data, "--backend", "ray", "--ship-artifacts")
    assert doc["models"] == local_doc["models"]
    assert doc["ray"]["ship_artifacts"]
    on_workers = doc["ray"]["artifacts_on_workers"]
    assert [os.path.basename(p) for p in on_workers] == [a.onnx_path.name for a in artifacts]
    assert all("edgezoo-ray-" in p and not p.startswith(str(artifacts[0].onnx_path.parent)) for p in on_workers)


def test_a_killed_worker_is_retried_and_the_result_is_the_same(
    cli, ray_local, artifacts, data, local_doc, tmp_path, monkeypatch
):
    marker = tmp_path / "died"
    monkeypatch.setenv("EDGEZOO_TEST_RAY_WORKER_EXIT", str(marker))  # the first worker to start a shard exits
    doc = _eval(cli, artifacts, data, "--backend", "ray", "--workers", "2")
    assert marker.exists(), "no worker was killed: the test proves nothing"
    assert doc["ray"]["workers_restarted"] == 1
    assert doc["models"] == local_doc["models"]


def test_a_shard_that_keeps_failing_is_reported_not_dropped(ray_local, artifacts, data, monkeypatch):
    from edgezoo.evaluate.accuracy import evaluate
    from edgezoo.evaluate.ray_backend import RayEvalOptions

    monkeypatch.setenv("EDGEZOO_TEST_RAY_WORKER_EXIT", "always")
    options = RayEvalOptions(workers=1, max_restarts=1, shard_size=4)
    with pytest.raises(EdgezooError, match=r"Ray: 3 of 3 shards failed after retries, no results \(first: shard 0"):
        evaluate([artifacts[0]], data, backend="ray", ray=options)


def test_artifacts_the_workers_cannot_see_say_so(ray_local, artifacts, data, tmp_path):
    from edgezoo.evaluate.accuracy import evaluate
    from edgezoo.evaluate.ray_backend import RayEvalOptions

    moved = tmp_path / "gone"
    moved.mkdir()
    for p in (artifacts[0].onnx_path, artifacts[0].card_path):
        (moved / p.name).write_bytes(p.read_bytes())
    art = read_artifact(moved / artifacts[0].onnx_path.name)
    for p in (art.onnx_path, art.card_path):
        p.unlink()  # the driver holds the card; the workers find no file
    with pytest.raises(EdgezooError, match="pass --ship-artifacts"):
        evaluate([art], data, backend="ray", ray=RayEvalOptions(workers=1, max_restarts=0))


def test_workers_larger_than_any_node_are_refused_not_waited_for(ray_local, artifacts, data):
    from edgezoo.evaluate.accuracy import evaluate

    cpus = max(n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"])
    with pytest.raises(EdgezooError, match=f"would need {int(cpus) + 1} CPUs"):
        evaluate([artifacts[0]], data, backend="ray", threads=int(cpus) + 1)


@pytest.mark.slow  # two exports, quantizations and benches: about 45 s on 2 cores
def test_run_two_models_on_ray_writes_both_results(cli, ray_local, tmp_path):
    out = tmp_path / "results"
    # --no-tune: this test is about Ray. Where the shipped configs were measured on another ISA, run
    # would tune both models first (173 s of the suite on a Zen 3); tests/test_pipeline.py covers that.
    quick = ("--duration", "0.05", "--engine", "onnxruntime", "--threads", "1", "--no-tune")
    r = cli("run", MODEL, "test_vit", "-o", out, "--backend", "ray", *quick)
    assert r.code == 0, r.err
    for model in (MODEL, "test_vit"):
        doc = json.loads((out / f"{model}.json").read_text())
        assert doc["model"] == model and doc["stages"]["export"]["status"] == "ok"
        assert doc["stages"]["quantize"]["status"] == "ok" and (out / "artifacts" / f"{model}.int8.onnx").is_file()
        assert doc["stages"]["eval"] == {"status": "skipped", "reason": "no --data"}
        if doc["stages"]["bench"]["status"] == "ok":
            assert doc["precisions"]["fp32"]["latency_1t_ms"] > 0
    r = cli("table", "--results", out)
    assert r.code == 0 and MODEL in r.out and "test_vit" in r.out and "no --data" in r.out


@pytest.mark.slow  # starts a Ray instance of its own: about 20 s
def test_the_command_starts_and_stops_its_own_ray(artifacts, data, local_doc):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    args = [str(artifacts[0].onnx_path), str(artifacts[1].onnx_path), "--data", str(data), "--threads", "1"]
    cmd = [sys.executable, "-m", "edgezoo.cli", "eval", *args, "--per-image", "--json", "--backend", "ray"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    info = doc["ray"]
    assert info["started_here"] and info["workers"] == min(info["cpus"], info["shards"])
    assert doc["models"] == local_doc["models"]


def test_without_ray_the_backend_fails_in_one_line(cli, artifacts, data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    for args in (
        ("eval", artifacts[0].onnx_path, "--data", data, "--backend", "ray"),
        ("run", MODEL, "-o", tmp_path / "out", "--backend", "ray"),
    ):
        r = cli(*args)
        assert r.code == 2 and r.err.startswith("edgezoo: error: ") and "pip install 'edgezoo[ray]'" in r.err
        assert len(r.err.strip().splitlines()) == 1
    r = cli("eval", artifacts[0].onnx_path, "--data", data, "--ship-artifacts")
    assert r.code == 2 and "--ship-artifacts goes with --backend ray" in r.err


def test_edgezoo_list_does_not_import_ray():
    code = (
        "import sys\nfrom edgezoo.cli import main\nsys.argv = ['edgezoo', 'list']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nprint('RAY' if 'ray' in sys.modules else 'NO-RAY')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("NO-RAY")
