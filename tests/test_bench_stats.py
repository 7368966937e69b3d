"""The benchmark's statistics on synthetic timings, and the ratios and targets built on them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edgezoo.bench.report import add_ratios, host_of, markdown, speed_targets, summarize
from edgezoo.bench.stats import mad, median, percentile, relative_spread, summarize_ms
from edgezoo.host import parse_cpuinfo

CPUINFO = Path(__file__).parent / "data" / "cpuinfo"


def _host(name: str, arch: str = "x86_64"):
    return parse_cpuinfo((CPUINFO / name).read_text(encoding="utf-8"), arch)


@pytest.mark.parametrize("q", [0, 10, 25, 50, 90, 99, 100])
def test_percentile_matches_numpy_linear(q):
    rng = np.random.default_rng(1)
    samples = list(rng.lognormal(mean=2.0, sigma=0.3, size=257))
    assert percentile(samples, q) == pytest.approx(float(np.percentile(samples, q)), rel=1e-12)


def test_median_even_and_odd():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_tail_and_spread_of_a_skewed_distribution():
    # 100 runs: 90 at 10 ms, 9 at 12 ms, one stall of 100 ms (what a busy neighbour does).
    seconds = [0.010] * 90 + [0.012] * 9 + [0.100]
    s = summarize_ms(seconds)
    assert s["min"] == pytest.approx(10.0)
    assert s["median"] == pytest.approx(10.0)
    assert s["p90"] == pytest.approx(10.2)  # 0.1 of the way from the 90th (10) to the 91st (12) value
    assert s["p99"] == pytest.approx(12.0 + 0.01 * 88.0)
    assert s["max"] == pytest.approx(100.0)
    assert s["mean"] == pytest.approx((900 + 108 + 100) / 100)
    assert s["iqr"] == pytest.approx(0.0)
    assert relative_spread(s) == pytest.approx(0.0)
    assert s["mad"] == pytest.approx(0.0)  # the stall moves neither the median nor the MAD


def test_spread_grows_with_noise():
    rng = np.random.default_rng(0)
    quiet = summarize_ms(list(0.010 + rng.normal(0, 0.0001, 500)))
    noisy = summarize_ms(list(0.010 + np.abs(rng.normal(0, 0.003, 500))))
    assert relative_spread(quiet) < 0.02 < relative_spread(noisy)
    assert mad([1.0, 2.0, 3.0, 4.0, 100.0]) == 1.0


def test_no_samples_is_an_error():
    with pytest.raises(ValueError):
        summarize_ms([])
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def _row(label: str, variant: str, precision: str, median_ms: float, threads: int = 1, streams: int = 1) -> dict:
    engine = {"eager": "torch", "eager-reparam": "torch"}.get(variant, "openvino")
    return {
        "model": "m",
        "label": label,
        "variant": variant,
        "engine": engine,
        "device": "cpu",
        "precision": precision,
        "threads": threads,
        "streams": streams,
        "batch": 1,
        "latency_ms": {"min": median_ms, "median": median_ms, "p90": median_ms, "p99": median_ms, "mean": median_ms},
        "spread": 0.01,
        "fps": streams * 1000.0 / median_ms,
        "size_bytes": 1000,
        "load_s": 0.1,
        "peak_rss_mb": 100.0,
    }


def test_ratios_and_targets():
    rows = [
        _row("edgezoo openvino int8", "edgezoo", "int8", 5.0),
        _row("edgezoo openvino bf16", "edgezoo", "bf16", 8.0),
        _row("eager-reparam torch fp32", "eager-reparam", "fp32", 25.0),
        _row("eager torch fp32", "eager", "fp32", 30.0),
        _row("nncf-default openvino int8", "nncf-default", "int8", 4.0),
        _row("edgezoo openvino int8", "edgezoo", "int8", 5.0, streams=2),
        _row("nncf-default openvino int8", "nncf-default", "int8", 2.0, streams=2),
    ]
    add_ratios(rows)
    assert [r["ratio_to_best"] for r in rows[:5]] == pytest.approx([1.0, 1.6, 5.0, 6.0, 0.8])
    # Several streams compare FPS: the peer does 1000 FPS against edgezoo's 400.
    assert rows[6]["ratio_to_best"] == pytest.approx(0.4)
    (s,) = summarize(rows)
    assert s["int8_speedup_vs_eager_reparam"] == pytest.approx(5.0)
    assert s["target_4x_vs_eager_reparam_met"] is True
    assert s["int8_speedup_vs_nncf_default"] == pytest.approx(0.8)
    assert s["target_not_slower_than_nncf_met"] is False
    assert s["int8_speedup_vs_openvino_bf16"] == pytest.approx(1.6)


def test_no_edgezoo_row_gives_no_ratio_and_no_target():
    rows = [_row("eager torch fp32", "eager", "fp32", 30.0)]
    add_ratios(rows)
    assert rows[0]["ratio_to_best"] is None
    (s,) = summarize(rows)
    assert s["target_4x_vs_eager_reparam_met"] is None
    assert math.isnan(relative_spread({"iqr": 1.0, "median": 0.0}))


def test_markdown_lists_every_way_and_what_was_skipped():
    rows = [_row("edgezoo openvino int8", "edgezoo", "int8", 5.0), _row("eager torch fp32", "eager", "fp32", 30.0)]
    add_ratios(rows)
    doc = {
        "command": "edgezoo bench m",
        "created": "2026-01-01T00:00:00+00:00",
        "machine": {"cpu": {"model": "X", "usable_cores": 2, "memory_gb": 1, "flags": ["avx512_vnni"]}, "versions": {}},
        "settings": {"warmup_s": 0.5, "duration_s": 2.0},
        "results": rows,
        "summary": summarize(rows),
        "skipped": [{"model": "*", "what": "torch cuda", "reason": "torch sees no CUDA GPU"}],
    }
    text = markdown(doc)
    assert "| edgezoo openvino int8 |" in text and "| eager torch fp32 |" in text
    assert "6.00x" in text  # eager's ratio to edgezoo's best
    assert "torch cuda: torch sees no CUDA GPU" in text


@pytest.mark.parametrize(
    ("cpuinfo", "arch", "eager", "nncf"),
    [
        ("zen3.txt", "x86_64", 3.0, 1.3),  # AVX2 only: no int8 dot products
        ("zen4.txt", "x86_64", 4.0, 1.0),
        ("sapphire_rapids.txt", "x86_64", 4.0, 1.0),
        ("cortex_a55_rdk_x5.txt", "aarch64", 4.0, 1.0),  # ARM dot product
    ],
)
def test_speed_targets_follow_the_host(cpuinfo, arch, eager, nncf):
    t = speed_targets(_host(cpuinfo, arch))
    assert t == {"vs_eager_reparam": eager, "vs_nncf_default": nncf, "vs_best_float": 1.0}


def _zoo_rows(deployed_ms: float, other_ms: float) -> list[dict]:
    """A deployed int8 row and a faster or slower int8 way its card does not use, with every peer."""
    rows = [
        {**_row("edgezoo openvino int8", "edgezoo", "int8", deployed_ms), "deployed": True},
        {**_row("edgezoo openvino int8+f32", "edgezoo", "int8", other_ms), "deployed": False},
        _row("edgezoo openvino bf16", "edgezoo", "bf16", 9.0),
        {**_row("edgezoo onnxruntime fp32", "edgezoo", "fp32", 12.0), "engine": "onnxruntime"},
        _row("eager-reparam torch fp32", "eager-reparam", "fp32", 30.0),
        _row("nncf-default openvino int8", "nncf-default", "int8", 8.0),
    ]
    add_ratios(rows)
    return rows


def test_targets_judge_the_deployed_int8_row_for_the_documents_host():
    # The int8+f32 way is faster (6 ms), but the card deploys the other (7.5 ms): that is judged.
    zen3, zen4 = _host("zen3.txt"), _host("zen4.txt")
    (s,) = summarize(_zoo_rows(7.5, 6.0), zen4)
    assert (s["int8_label"], s["int8_deployed"]) == ("edgezoo openvino int8", True)
    assert s["int8_speedup_vs_nncf_default"] == pytest.approx(8.0 / 7.5)
    assert s["best_float_label"] == "edgezoo openvino bf16"
    assert s["int8_speedup_vs_best_float"] == pytest.approx(9.0 / 7.5)
    assert s["targets_isa"] == "avx512-vnni-bf16"
    # 30 / 7.5 = 4.0x eager: the VNNI target (4x) is met; 1.07x NNCF is "faster".
    assert s["targets_met"] == {"vs_eager_reparam": True, "vs_nncf_default": True, "vs_best_float": True}
    # The same figures judged for an AVX2-only host: 3x eager is met, 1.3x over NNCF is not.
    (s,) = summarize(_zoo_rows(7.5, 6.0), zen3)
    assert s["targets_isa"] == "avx2"
    assert s["targets_met"] == {"vs_eager_reparam": True, "vs_nncf_default": False, "vs_best_float": True}
    # At two threads the ratios are reported but not judged: the targets are stated at one thread.
    (s,) = summarize([{**r, "threads": 2} for r in _zoo_rows(7.5, 6.0)], zen4)
    assert s["int8_speedup_vs_nncf_default"] == pytest.approx(8.0 / 7.5) and set(s["targets_met"].values()) == {None}
    # Slower than NNCF and than the best float way: both "faster" targets fail.
    (s,) = summarize(_zoo_rows(9.5, 9.4), zen4)
    assert s["int8_label"] == "edgezoo openvino int8"
    assert s["targets_met"] == {"vs_eager_reparam": False, "vs_nncf_default": False, "vs_best_float": False}


def test_without_a_deployed_row_the_fastest_int8_row_is_judged_and_said():
    rows = [{k: v for k, v in r.items() if k != "deployed"} for r in _zoo_rows(7.5, 6.0)]
    (s,) = summarize(rows, _host("zen4.txt"))
    assert (s["int8_label"], s["int8_deployed"]) == ("edgezoo openvino int8+f32", False)
    doc = {
        "command": "edgezoo bench m",
        "created": "2026-01-01T00:00:00+00:00",
        "machine": {"cpu": {"model": "X", "usable_cores": 2, "memory_gb": 1, "flags": []}, "versions": {}},
        "settings": {"warmup_s": 0.5, "duration_s": 2.0},
        "results": rows,
        "summary": [s],
        "skipped": [],
    }
    line = next(ln for ln in markdown(doc).splitlines() if ln.startswith("- m, 1 thread"))
    assert "not the card's way" in line and "targets for avx512-vnni-bf16" in line
    assert "5.00x reparameterized eager (4x: met)" in line  # 30 ms / 6 ms
    assert "1.33x NNCF default int8 (faster: met)" in line


def test_host_of_reads_the_machine_block():
    assert host_of({"cpu": {"model": "X"}}) is None  # older documents: no arch recorded
    host = host_of({"cpu": {"model": "AMD EPYC 7B13", "arch": "x86_64", "flags": ["avx2", "fma"]}})
    assert host is not None and host.isa_class == "avx2" and not host.int8_dot_product
