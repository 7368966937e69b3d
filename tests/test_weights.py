"""Weight loading: checkpoints from users are untrusted and often wrapped."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from edgezoo.errors import EdgezooError
from edgezoo.inputs.preprocess import prepare
from edgezoo.zoo import models
from edgezoo.zoo.models import build_model
from edgezoo.zoo.registry import get_card
from edgezoo.zoo.weights import read_checkpoint


@pytest.fixture(scope="module")
def t8_state():
    torch.manual_seed(123)
    model, _ = build_model(get_card("fastvit_t8"), seed=123)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_safetensors_checkpoint(tmp_path, t8_state):
    path = tmp_path / "t8.safetensors"
    save_file({k: v.contiguous() for k, v in t8_state.items()}, str(path))
    model, source = build_model(get_card("fastvit_t8"), weights=path)
    assert _same_weights(model, t8_state)
    assert source.kind == "file" and len(source.sha256) == 64


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module_prefix"])
def test_torch_checkpoint_wrappers(tmp_path, t8_state, wrap):
    obj = {
        "plain": t8_state,
        "state_dict": {"state_dict": t8_state, "epoch": 3},
        "model": {"model": t8_state, "optimizer": {}},
        "module_prefix": {f"module.{k}": v for k, v in t8_state.items()},
    }[wrap]
    path = tmp_path / "t8.pth"
    torch.save(obj, path)
    model, _ = build_model(get_card("fastvit_t8"), weights=path)
    assert _same_weights(model, t8_state)


def test_wrong_architecture_is_refused_with_counts(tmp_path):
    other, _ = build_model(get_card("fastvit_t12"))
    path = tmp_path / "t12.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(EdgezooError, match=r"t12\.pth: checkpoint does not fit.*\d+ missing keys \(.*\d+ unexpected"):
        build_model(get_card("fastvit_t8"), weights=path)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weights": torch.zeros(2), "hook": socket.socket}, path)
    with pytest.raises(EdgezooError, match="evil.pth: checkpoint holds pickled Python objects"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("garbage.pth", b"not a checkpoint at all", "not a readable checkpoint"),
        ("empty.safetensors", b"", "cannot read checkpoint|not a readable"),
        ("weights.npz", b"x", "unsupported checkpoint type '.npz'"),
    ],
)
def test_corrupt_or_unsupported_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(EdgezooError, match=message) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_checkpoint(tmp_path, t8_state):
    path = tmp_path / "t8.pth"
    torch.save(t8_state, path)
    path.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(EdgezooError, match="t8.pth: not a readable checkpoint"):
        read_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(EdgezooError, match="nope.pth: checkpoint file not found"):
        read_checkpoint(tmp_path / "nope.pth")


def test_random_weights_are_seeded():
    a, sa = build_model(get_card("fastvit_t8"))
    b, _ = build_model(get_card("fastvit_t8"))
    assert sa.describe() == "random (seed 0)"
    assert _same_weights(a, b.state_dict())


def test_pretrained_offline_fails_fast_with_one_clear_line(monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda *a, **k: None)
    with pytest.raises(EdgezooError, match="hub is unreachable.*pass --weights PATH") as info:
        models.build_model(get_card("fastvit_t8"), pretrained=True)
    assert "\n" not in str(info.value)


def test_weights_and_pretrained_exclude_each_other(tmp_path):
    with pytest.raises(EdgezooError, match="exclude each other"):
        build_model(get_card("fastvit_t8"), weights=tmp_path / "x.pth", pretrained=True)


def test_lite0_packaged_real_weights_classify_photos(photos):
    card = get_card("tf_efficientnet_lite0")
    model, source = build_model(card, pretrained=True)
    assert source.kind == "package"
    x = prepare(
        photos["coffee"],
        size=card.img_size,
        crop_pct=card.crop_pct,
        interpolation=card.interpolation,
        mean=card.mean,
        std=card.std,
    )
    with torch.no_grad():
        probs = model(torch.from_numpy(x)).softmax(-1)[0].numpy()
    assert int(np.argmax(probs)) == 967  # espresso
    assert probs[967] > 0.5
