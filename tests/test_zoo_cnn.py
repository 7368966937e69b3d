"""The convolutional and reparameterizable families of the RDK X5 zoo: cards, configs, deploy form.

Cards are checked against timm's pretrained configs and the models timm builds; every card carries
the board's figures and names a family config that loads; the reparameterizable families export
folded (no BatchNorm, fewer parameters) and every family exports and quantizes end to end.
"""

from __future__ import annotations

import collections
from dataclasses import replace

import onnx
import pytest
import torch
from test_quantize import image_sets  # noqa: F401  (module fixture: calibration / held-out photo views)

from edgezoo.export.to_onnx import export
from edgezoo.quantize.api import quantize_artifact
from edgezoo.quantize.config import load_config
from edgezoo.zoo.models import build_model, count_gmacs, count_params, reparameterized
from edgezoo.zoo.registry import get_card, zoo_cards

CNN = [
    "repvgg_a0",
    "repvgg_a1",
    "repvgg_a2",
    "repvgg_b0",
    "repvgg_b1g4",
    "mobileone_s0",
    "mobileone_s1",
    "mobileone_s2",
    "mobileone_s3",
    "mobileone_s4",
    "repvit_m0_9",
    "repvit_m1_0",
    "repvit_m1_1",
    "repghostnet_100",
    "mobilenetv2_100",
    "resnet18",
]
# The smallest model of each family; the reparameterizable ones must lose their BatchNorms and branches.
SMOKE = {
    "repvgg_a0": True,
    "mobileone_s0": True,
    "repvit_m0_9": True,
    "repghostnet_100": True,
    "mobilenetv2_100": False,
    "resnet18": False,
}
RDK_KEYS = {"params_m", "float_top1", "quant_top1", "latency_1t_ms", "latency_4t_ms", "fps", "source"}


def test_cnn_families_are_one_block_of_the_zoo_in_order():
    names = list(zoo_cards())
    start = names.index(CNN[0])
    assert names[start : start + len(CNN)] == CNN


@pytest.mark.parametrize("name", CNN)
def test_cnn_card_carries_the_board_figures_and_the_deployed_parameter_count(name):
    """(timm's pretrained config is checked for every card in test_zoo.py.)"""
    card = get_card(name)
    assert card.rdk_name
    assert card.paper.get("url", "").startswith("https://arxiv.org/")
    rdk = card.reference["rdk_x5"]
    assert set(rdk) >= RDK_KEYS and rdk["quant_top1"] <= rdk["float_top1"]
    config = load_config(card.quantize_config)
    assert config.source == f"configs/{card.quantize_config}.yaml" and config.precision["default"] == "int8"
    model, _ = build_model(card)
    assert count_params(model) == card.params
    if not name.startswith(("mobilenetv2", "resnet")):  # those two are Horizon's own builds on the board
        # The board counts the deployed (reparameterized) parameters of the same weights.
        assert count_params(reparameterized(model)) / 1e6 == pytest.approx(rdk["params_m"], abs=0.15)


@pytest.mark.parametrize("name", ["repvgg_a0", "mobilenetv2_100"])
def test_cnn_card_gmacs(name):
    card = get_card(name)
    model, _ = build_model(card)
    assert count_gmacs(model, card.input_size) == pytest.approx(card.gmacs, abs=0.0015)


# Three families in the default suite (the cheapest), the other three slow-marked (about 10 s each).
SLOW_SMOKE = ("repvit_m0_9", "repghostnet_100", "resnet18")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SMOKE else n for n in SMOKE])
def test_family_exports_folded_and_quantizes(name, image_sets, tmp_path):  # noqa: F811
    """Each family end to end at 96 px (a fifth of the work of 224 px): the reparameterizable ones
    export without BatchNorm and with fewer parameters than PyTorch has, the int8 artifact holds
    int8 convolutions and stays close to the float export on held-out photo views."""
    calib, held_out = image_sets
    card = replace(get_card(name), input_size=(3, 96, 96))
    torch.manual_seed(0)
    source, checks = export(card, out_dir=tmp_path / "fp32")
    assert all(c.passed for c in checks)
    ops = collections.Counter(n.op_type for n in onnx.load(source.onnx_path).graph.node)
    assert ops["BatchNormalization"] == 0
    params = source.card["params"]
    if SMOKE[name]:
        assert params["pytorch_reparameterized"] < params["pytorch"]
    assert params["onnx_initializers"] <= params["pytorch_reparameterized"]  # BatchNorms folded by the exporter
    outcome = quantize_artifact(
        source,
        calib,
        config=load_config(card.quantize_config),
        num_calib=4,
        holdout_dir=held_out,
        num_holdout=3,
        out_dir=tmp_path / "int8",
    )
    int8 = onnx.load(outcome.artifact.onnx_path)
    weights = {i.name for i in int8.graph.initializer if i.data_type == onnx.TensorProto.INT8}
    int8_convs = [n for n in int8.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in weights]
    assert len(int8_convs) >= ops["Conv"] // 2
    assert outcome.fidelity["images"] == 3
    assert outcome.fidelity["logit_cosine_mean"] > 0.99
