"""Model cards: shipped data, checked against the models timm builds."""

from __future__ import annotations

import json

import pytest
import timm
from test_zoo_families import MINE as FAMILIES_MINE

from edgezoo.errors import EdgezooError
from edgezoo.zoo.models import build_model, count_gmacs, count_params
from edgezoo.zoo.registry import get_card, suggest, zoo_cards

ZOO = [
    "fastvit_t8",
    "fastvit_t12",
    "fastvit_s12",
    "fastvit_sa12",
    "efficientformer_l1",
    "efficientformer_l3",
    "tf_efficientnet_lite0",
]


def test_zoo_starts_with_the_seven_seed_models_in_order():
    assert list(zoo_cards())[: len(ZOO)] == ZOO


@pytest.mark.parametrize("name", list(zoo_cards()))
def test_card_matches_timms_pretrained_config(name):
    """Every card's preprocessing is what timm's pretrained config for its tag says (one check for the
    whole zoo; the family test files check only what is particular to their families)."""
    card = get_card(name)
    cfg = timm.models.get_pretrained_cfg(card.timm_name)
    assert cfg is not None and f"{cfg.architecture}.{cfg.tag}" == card.timm_name == f"{name}.{cfg.tag}"
    assert card.mean == pytest.approx(cfg.mean) and card.std == pytest.approx(cfg.std)
    assert card.crop_pct == pytest.approx(cfg.crop_pct)
    assert card.interpolation == cfg.interpolation
    assert card.num_classes == cfg.num_classes == 1000
    # Every row of the RDK X5 table is 224x224: models whose native size differs are deployed at 224.
    assert card.input_size == (3, 224, 224)
    assert card.family and card.source and card.license
    for ref in card.reference.values():
        assert ref.get("source"), f"{name}: reference figure without a source"
    top1 = card.reference.get("timm", {}).get("top1")
    assert top1 is None or 65 < top1 < 90


# The seed models in the default suite; the transformer and hybrid families' cards slow-marked (the
# convolutional families build theirs in test_zoo_cnn.py, for the reparameterized count too).
BUILT = ZOO + [pytest.param(n, marks=pytest.mark.slow) for n in FAMILIES_MINE]


@pytest.mark.parametrize("name", BUILT)
def test_card_params_and_gmacs_match_the_built_model(name):
    card = get_card(name)
    model, source = build_model(card)
    assert source.kind == "random"
    assert count_params(model) == card.params
    assert count_gmacs(model, card.input_size) == pytest.approx(card.gmacs, abs=0.0015)


@pytest.mark.parametrize("name", ZOO)
def test_seed_card_cites_its_paper(name):
    assert get_card(name).paper.get("url", "").startswith("https://arxiv.org/")


def test_transformer_cards_carry_both_reference_rows():
    for name in ZOO[:6]:
        ref = get_card(name).reference
        assert {"timm", "rdk_x5"} <= set(ref)
        assert {"float_top1", "quant_top1", "latency_1t_ms", "latency_4t_ms", "fps", "params_m"} <= set(ref["rdk_x5"])
    assert get_card("fastvit_t8").reference["rdk_x5"]["fps"] == 667.21
    assert get_card("efficientformer_l3").reference["timm"]["top1"] == 82.56


def test_any_timm_classifier_gets_a_derived_card():
    card = get_card("resnet34")  # resnet18 has a zoo card; resnet34 does not
    assert card.timm_name.startswith("resnet34.") and not card.zoo
    assert card.input_size == (3, 224, 224) and card.num_classes == 1000


def test_unknown_model_suggests_close_names():
    with pytest.raises(EdgezooError, match="unknown model 'fastvit_t9'.*fastvit_t8"):
        get_card("fastvit_t9")
    assert suggest("efficientformer_l2")[0].startswith("efficientformer_l")


def test_list_prints_a_table_and_json(cli):
    res = cli("list")
    assert res.code == 0
    for name in ZOO:
        assert name in res.out
    assert "76.18" in res.out  # timm's published Top-1 for fastvit_t8
    res = cli("list", "--json")
    cards = json.loads(res.out)
    assert [c["name"] for c in cards][: len(ZOO)] == ZOO
    assert cards[0]["reference"]["rdk_x5"]["quant_top1"] == 68.5
