"""edgezoo table: rows, reasons for empty cells, markdown, the plot and its Pareto front."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from edgezoo.errors import EdgezooError
from edgezoo.pipeline.runner import bench_summary
from edgezoo.pipeline.table import Point, coverage, pareto_front, plot_points, read_results, table_rows
from edgezoo.zoo.registry import get_card, unavailable_models, zoo_cards


def _doc(model: str, fp32: dict, int8: dict | None = None, **extra) -> dict:
    precisions = {"fp32": fp32} | ({"int8": int8} if int8 else {})
    return {
        "edgezoo_results": 1,
        "model": model,
        "input_size": [224, 224],
        "num_classes": 1000,
        "params_m": 4.026,
        "reference": get_card(model).reference,
        "machine": {"cpu": {"model": "Test CPU"}},
        "precisions": precisions,
        **extra,
    }


def _speed(ms: float, top1: float | None = None, note: str | None = None) -> dict:
    return {
        "engine": "onnxruntime",
        "top1": top1,
        "accuracy_note": note,
        "latency_1t_ms": ms,
        "latency_mt_ms": ms / 2,
        "threads_mt": 2,
        "fps": 1000 / ms,
    }


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    docs = [
        _doc("fastvit_t8", _speed(14.0, note="random weights"), _speed(9.0, note="random weights")),
        _doc("tf_efficientnet_lite0", _speed(10.5, top1=75.0), _speed(5.0, top1=74.5), eval={"dataset": "val"}),
        _doc("efficientformer_l1", _speed(30.0, note="no --data")),
    ]
    for d in docs:
        (folder / f"{d['model']}.json").write_text(json.dumps(d))
    (folder / "other.json").write_text("{}")
    return folder


def test_rows_follow_the_zoo_order_and_say_why_cells_are_empty(results):
    docs, notes = read_results(results)
    assert [d["model"] for d in docs] == ["fastvit_t8", "efficientformer_l1", "tf_efficientnet_lite0"]
    assert notes == ["other.json: not an edgezoo results file, passed over"]
    rows = {r[0]: r for r in table_rows(docs)}
    t8 = rows["fastvit_t8"]
    assert t8[4] == "– (random weights)" and t8[5] == "– (random weights)"
    assert t8[6] == "int8 onnxruntime" and t8[7] == "9.00" and t8[8] == "4.50 (2t)" and t8[9] == "111.1"
    assert t8[10] == "73.50 / 68.50" and t8[11] == "2.09 / 5.93, 667.2" and t8[12] == "76.18"
    l1 = rows["efficientformer_l1"]
    assert l1[4] == "– (no --data)" and l1[5] == "– (no int8 artifact)" and l1[6] == "fp32 onnxruntime"
    lite0 = rows["tf_efficientnet_lite0"]
    assert lite0[4:6] == ["75.00", "74.50"] and lite0[10] == "–" and lite0[12] == "74.85"  # no RDK row, a timm one


def test_table_command_writes_markdown_and_plot(cli, results, tmp_path):
    md, png = tmp_path / "t.md", tmp_path / "t.png"
    r = cli("table", "--results", results, "--md", md, "--plot", png)
    assert r.code == 0, r.err
    assert "fastvit_t8" in r.out and "73.50 / 68.50" in r.out
    text = md.read_text()
    assert text.startswith("| model | input | classes | params (M) | float Top-1 | quant Top-1 |")
    assert "| tf_efficientnet_lite0 | 224x224 | 1000 | 4.03 | 75.00 | 74.50 | int8 onnxruntime | 5.00 |" in text
    assert "Made with: `edgezoo table --results" in text
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 500


def test_plot_points_use_published_top1_only_where_not_measured(results):
    docs, _ = read_results(results)
    points, missing = plot_points(docs)
    by = {(p.model, p.precision): p for p in points}
    assert by[("tf_efficientnet_lite0", "int8")] == Point("tf_efficientnet_lite0", "int8", 5.0, 74.5, True)
    assert by[("fastvit_t8", "int8")].top1 == 76.18 and not by[("fastvit_t8", "int8")].measured
    assert by[("efficientformer_l1", "fp32")].top1 == 80.50
    assert missing == []


def test_pareto_front():
    pts = [
        Point("a", "fp32", 10, 70, True),
        Point("b", "fp32", 5, 60, True),
        Point("c", "fp32", 20, 65, True),  # slower and worse than a: dominated
        Point("d", "fp32", 30, 80, True),
        Point("e", "fp32", 5, 55, True),  # as fast as b but worse
    ]
    assert [p.model for p in pareto_front(pts)] == ["b", "a", "d"]


def test_table_errors(cli, tmp_path):
    r = cli("table", "--results", tmp_path / "none")
    assert r.code == 2 and "no such results folder" in r.err
    (tmp_path / "empty").mkdir()
    r = cli("table", "--results", tmp_path / "empty")
    assert r.code == 2 and "no edgezoo results files" in r.err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.json").write_text("{broken")
    r = cli("table", "--results", tmp_path / "bad")
    assert r.code == 2 and "x.json: unreadable results file" in r.err
    with pytest.raises(EdgezooError, match="nothing to plot"):
        from edgezoo.pipeline.table import plot

        plot([_doc("tf_efficientnet_lite0", {"top1": None, "latency_1t_ms": None})], tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()


def _rec(engine, precision, threads, streams, median, fps, variant="edgezoo", hint=None):
    rest = f"+{hint}" if hint else ""
    return {
        "model": "m",
        "engine": engine,
        "engine_precision": hint,
        "label": f"{variant} {engine} {precision}{rest}",
        "precision": precision,
        "variant": variant,
        "threads": threads,
        "streams": streams,
        "batch": 1,
        "device": "cpu",
        "latency_ms": {"median": median},
        "fps": fps,
    }


def test_bench_summary_picks_the_fastest_engine_and_its_multi_thread_figures():
    doc = {
        "results": [
            _rec("onnxruntime", "int8", 1, 1, 6.0, 160),
            _rec("openvino", "int8", 1, 1, 5.0, 190),
            _rec("openvino", "int8", 2, 1, 3.0, 320),
            _rec("openvino", "int8", 2, 2, 5.5, 350),
            _rec("onnxruntime", "int8", 2, 2, 4.0, 500),  # another engine's FPS does not count
            # The same engine with another precision hint is another way of running: not mixed in.
            _rec("openvino", "int8", 1, 1, 5.2, 180, hint="f32"),
            _rec("openvino", "int8", 2, 1, 2.5, 400, hint="f32"),
            _rec("torch", "int8", 1, 1, 1.0, 999, variant="eager"),  # peers do not count
            _rec("onnxruntime", "fp32", 1, 1, 12.0, 80),
        ]
    }
    s = bench_summary(doc, "int8")
    assert s == {
        "engine": "openvino",
        "engine_precision": None,
        "latency_1t_ms": 5.0,
        "latency_mt_ms": 3.0,
        "threads_mt": 2,
        "fps": 350,
        "fps_at": {"threads": 2, "streams": 2},
    }
    assert bench_summary(doc, "fp32")["latency_mt_ms"] is None
    assert bench_summary(doc, "bf16") is None
    doc["results"][1]["latency_ms"]["median"] = 5.5  # now the f32 row is the fastest at 1 thread
    s = bench_summary(doc, "int8")
    assert (s["engine_precision"], s["latency_1t_ms"], s["latency_mt_ms"], s["fps"]) == ("f32", 5.2, 2.5, 400)
    # Named as the card deploys it, that way is taken even when another is faster.
    s = bench_summary(doc, "int8", way="edgezoo onnxruntime int8")
    assert (s["engine"], s["latency_1t_ms"], s["fps"]) == ("onnxruntime", 6.0, 500)
    assert bench_summary(doc, "int8", way="edgezoo openvino int8+bf16")["latency_1t_ms"] == 5.2  # absent: fastest


def test_timed_names_what_openvino_ran_the_float_operators_in():
    int8 = {**_speed(3.0), "engine": "openvino", "engine_precision": "bf16"}
    (row,) = table_rows([_doc("fastvit_t8", _speed(9.0), int8)])
    assert row[6] == "int8 openvino+bf16"
    (row,) = table_rows([_doc("fastvit_t8", _speed(9.0), _speed(3.0))])
    assert row[6] == "int8 onnxruntime"


def test_a_partial_zoo_table_names_what_it_leaves_out(cli, results, tmp_path):
    docs, _ = read_results(results)
    lines = coverage(docs)
    absent = [n for n in zoo_cards() if n not in {"fastvit_t8", "tf_efficientnet_lite0", "efficientformer_l1"}]
    assert lines[0] == f"Zoo cards with no results here ({len(absent)}): {', '.join(absent)}."
    missing = unavailable_models()
    assert len(lines) == 1 + len(missing) and missing
    for line, m in zip(lines[1:], missing, strict=True):
        assert line.startswith(f"Not available: {m.rdk_name} (X5 Top-1 ")
    md = tmp_path / "t.md"
    assert cli("table", "--results", results, "--md", md).code == 0
    assert lines[0] in md.read_text()
    # Models outside the zoo only: no zoo to compare with, nothing said.
    assert coverage([{"model": "resnet34"}]) == []
