"""The RDK Model Zoo's transformer, hybrid and small-CNN families: cards, configs, `edgezoo list`.

Cards are checked against timm's pretrained configs (no model is built in the fast tests), every
card must carry the board's figures and name a config that loads, and `edgezoo list` must group the
zoo by family and show the models it cannot build, with the reason. One export + quantize smoke per
family checks that the shipped config runs end to end and that its float overrides hold in the
engine's optimized graph (the large families are slow-marked).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm

from edgezoo.errors import EdgezooError
from edgezoo.quantize.config import load_config
from edgezoo.zoo.registry import get_card, unavailable_models, zoo_cards

FAMILIES = {
    "edgenext": ["edgenext_xx_small", "edgenext_x_small", "edgenext_small", "edgenext_base"],
    "efficientformerv2": ["efficientformerv2_s0", "efficientformerv2_s1", "efficientformerv2_s2"],
    "efficientvit_msra": ["efficientvit_m5"],
    "fasternet": ["fasternet_t0", "fasternet_t1", "fasternet_t2", "fasternet_s"],
    "convnext": ["convnext_atto"],
    "efficientnet": ["efficientnet_b2", "efficientnet_b3", "efficientnet_b4"],
    "mobilenetv3": ["mobilenetv3_large_100"],
    "mobilenetv4": ["mobilenetv4_conv_small", "mobilenetv4_conv_medium"],
}
MINE = [name for names in FAMILIES.values() for name in names]
RDK_FIELDS = {"params_m", "float_top1", "quant_top1", "latency_1t_ms", "latency_4t_ms", "fps", "source"}


def test_the_families_are_in_the_zoo_as_one_block():
    order = list(zoo_cards())
    start = order.index(MINE[0])
    assert order[start : start + len(MINE)] == MINE


@pytest.mark.parametrize("name", list(zoo_cards()))
def test_every_card_has_board_figures_or_says_why_not_and_a_config_that_loads(name):
    card = get_card(name)
    cfg = load_config(card.quantize_config)
    assert cfg.precision["default"] == "int8"
    assert card.family and card.timm_name.startswith(f"{card.name}.")
    if card.rdk_name is None:  # a model the RDK zoo does not have (tf_efficientnet_lite0)
        assert "rdk_x5" not in card.reference
        return
    x5 = card.reference["rdk_x5"]
    assert set(x5) >= RDK_FIELDS, f"{name}: rdk_x5 lacks {RDK_FIELDS - set(x5)}"
    assert 0 < x5["quant_top1"] <= x5["float_top1"] + 1.0 < 101
    assert x5["latency_1t_ms"] < x5["latency_4t_ms"]  # the zoo's 4-thread column is per-frame time x 4 streams


@pytest.mark.parametrize("name", MINE)
def test_card_family_and_board_parameter_count(name):
    """(timm's pretrained config is checked for every card in test_zoo.py.)"""
    card = get_card(name)
    assert card.family in FAMILIES and name in FAMILIES[card.family]
    # The board's parameter count (its ONNX model, BatchNorm folded, rounded): within 5% of PyTorch's.
    assert card.params / 1e6 == pytest.approx(card.reference["rdk_x5"]["params_m"], rel=0.05)


def test_unavailable_models_are_data_with_a_reason_and_board_figures():
    missing = {m.rdk_name: m for m in unavailable_models()}
    assert "GoogLeNet" in missing
    for m in missing.values():
        assert "timm" in m.reason
        assert set(m.rdk_x5) >= RDK_FIELDS
        assert not timm.list_models(f"{m.rdk_name.lower()}*"), f"{m.rdk_name} is in timm now: give it a card"
    assert not set(missing) & {c.rdk_name for c in zoo_cards().values()}
    with pytest.raises(EdgezooError, match="GoogLeNet.*not available.*timm"):
        get_card("googlenet")


def test_rdk_names_find_their_cards():
    assert get_card("EfficientViT_MSRA_m5").name == "efficientvit_m5"
    assert get_card("edgenext_small").rdk_name == "EdgeNeXt_small"
    rdk_names = [c.rdk_name for c in zoo_cards().values() if c.rdk_name]
    assert len(rdk_names) == len(set(rdk_names))


def test_list_groups_by_family_and_shows_unavailable_models(cli):
    res = cli("list")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    # Each family's name labels exactly one row: the first of its group.
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.count("│") > 2]
    group_of, current = {}, None
    for row in rows:  # the family cell labels the first row of a group and is blank below it
        current = row[0] or current
        group_of[row[1]] = current
    for family, names in FAMILIES.items():
        assert sum(row[0] == family for row in rows) == 1, family
        assert all(group_of[name] == family for name in names), family
    missing = [row for row in rows if row[2] == "GoogLeNet"]
    assert len(missing) == 1 and missing[0][:2] == ["googlenet", "GoogLeNet: not available"]
    assert "no GoogLeNet (Inception v1) in timm 1.0.31" in " ".join(res.out.split())


def test_list_fits_an_80_column_terminal_uncut(cli):
    res = cli("list", width=80)
    assert res.code == 0, res.err
    table = [line for line in res.out.splitlines() if "│" in line]
    assert table and max(len(line) for line in table) <= 80
    # Every model name and every figure is whole: each card's row carries its params and X5 figures.
    for card in zoo_cards().values():
        row = next(line for line in table if line.split("│")[0].strip().split(" @")[0] == card.name)
        cells = [c.strip() for c in row.split("│")]
        assert cells[1] == f"{card.params / 1e6:.2f}", card.name
        x5 = card.reference.get("rdk_x5", {})
        if x5.get("latency_1t_ms") is not None:
            assert cells[-1] == f"{x5['latency_1t_ms']:.2f}", card.name
    # Families are rows of their own, in the model column.
    families = {c.family for c in zoo_cards().values()}
    assert families <= {line.split("│")[0].strip() for line in table}


def test_list_json_keeps_card_fields_and_adds_availability(cli):
    res = cli("list", "--json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    available = [r for r in rows if r["available"]]
    assert [r["name"] for r in available] == list(zoo_cards())
    assert all(r["reason"] is None and "timm_name" in r and "family" in r and "rdk_name" in r for r in available)
    m5 = next(r for r in available if r["name"] == "efficientvit_m5")
    assert m5["rdk_name"] == "EfficientViT_MSRA_m5" and m5["reference"]["rdk_x5"]["fps"] == 174.7
    missing = [r for r in rows if not r["available"]]
    assert {r["rdk_name"] for r in missing} >= {"GoogLeNet"}
    assert all(r["reason"] and r["family"] and r["name"] is None for r in missing)


def test_list_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import atexit, sys; atexit.register(lambda: print('torch' in sys.modules));"
        " from edgezoo.cli import main; sys.argv = ['edgezoo', 'list']; main()"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("False")


# --------------------------------------------------------------------------------------------
# One export + quantize per family with its shipped config (few images: a smoke test, not fidelity)
# --------------------------------------------------------------------------------------------

FAST = {"edgenext_xx_small", "mobilenetv4_conv_small"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n[0], marks=[] if n[0] in FAST else [pytest.mark.slow]) for n in FAMILIES.values()],
)
def test_family_exports_and_quantizes_with_its_shipped_config(name, tmp_path, photos):
    from edgezoo.export.to_onnx import export
    from edgezoo.inputs.samples import write_photo_variants
    from edgezoo.quantize.api import config_for, quantize_artifact
    from edgezoo.runtime.engines import open_session

    card = get_card(name)
    fp32, _ = export(card, out_dir=tmp_path)
    calib, held = tmp_path / "calib", tmp_path / "held"
    write_photo_variants([photos["grace_hopper"]], calib, per_photo=4, seed=3)
    write_photo_variants([photos["grace_hopper"]], held, per_photo=3, seed=4)
    cfg = config_for(None, fp32)
    outcome = quantize_artifact(fp32, calib, config=cfg, holdout_dir=held, num_holdout=3, out_dir=tmp_path)
    q = outcome.artifact.card
    assert q["precision"] == "int8" and q["engine"] == cfg.engine["runtime"]
    assert q["quantization"]["config_file"] == f"configs/{card.quantize_config}.yaml"
    assert outcome.checks == [] or all(c.held for c in outcome.checks), [c.detail for c in outcome.checks]
    if cfg.overrides()["op_types"]:
        assert outcome.checks, "a float op-type override must be checked in the engine's graph"
    # View 0 of a photo is the whole photo in both folders: the held-out set drops it (same bytes).
    assert outcome.fidelity["images"] == len(outcome.held_out.crops) == 2
    assert outcome.fidelity["logit_cosine_mean"] > 0.9
    session = open_session(outcome.artifact, "auto")
    frame = outcome.held_out.crops[0]
    from edgezoo.quantize.frontend import FrontEnd, InputSpec

    logits = session.run(FrontEnd(InputSpec.from_config(cfg.input, card), card).frames(frame))
    assert logits.shape == (1, 1000) and np.isfinite(logits).all()


# --------------------------------------------------------------------------------------------
# benchmarks/zoo_bench.py --quick: the table it writes from a benchmark document
# --------------------------------------------------------------------------------------------


def _zoo_bench():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "zoo_bench.py"
    spec = importlib.util.spec_from_file_location("zoo_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_table_compares_int8_with_the_fastest_float_way():
    zoo_bench = _zoo_bench()

    def rec(model, precision, threads, ms, hint=None):
        return {"model": model, "engine": "openvino", "precision": precision, "threads": threads, "streams": 1,
                "batch": 1, "latency_ms": {"median": ms}, "engine_precision": hint}  # fmt: skip

    fidelity = {"images": 60, "logit_cosine_mean": 0.9996, "logit_cosine_min": 0.9991}
    doc = {
        "created": "2026-12-02T10:00:00+00:00",
        "command": "zoo_bench.py --quick",
        "machine": {"cpu": {"model": "CPU X", "usable_cores": 2, "flags": ["avx2", "avx512_vnni"]}},
        "settings": {"threads": [1, 2], "fidelity": {"efficientvit_m5": fidelity}},
        "skipped": [],
        "results": [
            rec("efficientvit_m5", "fp32", 1, 12.0, "f32"),
            rec("efficientvit_m5", "bf16", 1, 8.0, "bf16"),
            rec("efficientvit_m5", "int8", 1, 4.0, "bf16"),
            rec("efficientvit_m5", "fp32", 2, 7.9, "f32"),
            rec("efficientvit_m5", "bf16", 2, 7.5, "bf16"),
            rec("efficientvit_m5", "int8", 2, 7.7, "bf16"),
        ],
    }
    (row,) = zoo_bench.quick_rows(doc)
    assert row["fp32_1t"] == 8.0 and row["fp32_way_1t"] == "bf16"  # bf16 beat f32 at 1 thread
    assert row["fp32_2t"] == 7.5 and row["f32_2t"] == 7.9 and row["f32_1t"] == 12.0
    assert row["speedup_1t"] == pytest.approx(2.0) and row["speedup_2t"] == pytest.approx(7.5 / 7.7)
    text = zoo_bench.quick_markdown(doc)
    assert "ISA flags: avx2, avx512_vnni" in text and "`python benchmarks/zoo_bench.py --quick`" in text
    assert "| efficientvit_m5 | efficientvit_msra | openvino+bf16 | 8.00 (bf16) | 4.00 | 2.00x |" in text
    assert "0.9996 (min 0.9991)" in text
    # Slower than bf16 at 2 threads, faster than the export run in float32 at both thread counts.
    assert "int8 slower than the fastest float way above: efficientvit_m5 (2t)." in text
    assert "int8 slower than the fp32 export run in float32: none." in text
