"""Segmentation backbones from an ImageNet classifier's file through `init = { weights = PATH }`:
the backbone loads bit for bit (a grey stem summed over colours), the decoder and head stay
fresh, and a file for another network is one line."""

from __future__ import annotations

import pytest
import torch
import torchvision

from alstudy.errors import UsageError
from alstudy.models import make_model
from alstudy.models.weights import load_weights


def imagenet_file(tmp_path, net: torch.nn.Module, name: str):
    state = net.state_dict()
    for key, value in state.items():   # running statistics away from their defaults, so loading shows
        if key.endswith(("running_mean", "running_var")):
            value.uniform_(0.5, 1.5)
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    return str(path), state


def fresh(name: str, channels: int):
    torch.manual_seed(0)
    return make_model(name, (channels, 64, 64), 5, dropout=0.0)


@pytest.mark.parametrize("name, channels", [("deeplabv3_resnet50", 1)])   # grey: the stem file summed
def test_an_imagenet_resnet50_file_is_the_backbone(tmp_path, name, channels):
    torch.manual_seed(3)
    path, state = imagenet_file(tmp_path, torchvision.models.resnet50(weights=None), "resnet50")
    model, before = fresh(name, channels), fresh(name, channels).state_dict()
    loaded = load_weights(model, path, model_name=name)
    own = model.state_dict()
    assert len(loaded) == len(state) - 2                     # all but fc.weight, fc.bias (1000 classes)
    for key, value in state.items():
        if key.startswith("fc."):
            continue
        expected = value.sum(1, keepdim=True) if key == "conv1.weight" and channels == 1 else value
        assert torch.equal(own[f"backbone.{key}"], expected), key
    fresh_keys = [k for k in own if k.startswith(("decoder.", "classifier."))]
    assert fresh_keys and all(torch.equal(own[k], before[k]) for k in fresh_keys)


def test_an_imagenet_mobilenet_v3_file_is_the_lraspp_backbone(tmp_path):
    torch.manual_seed(4)
    path, state = imagenet_file(tmp_path, torchvision.models.mobilenet_v3_large(weights=None), "mnv3")
    model, before = fresh("lraspp_mobilenet_v3_large", 3), fresh("lraspp_mobilenet_v3_large", 3).state_dict()
    loaded = load_weights(model, path)
    own = model.state_dict()
    features = [k for k in state if k.startswith("features.")]
    assert sorted(loaded) == sorted(f"backbone.{k}" for k in features)   # its classifier.0 / .3 left out
    assert all(torch.equal(own[f"backbone.{k}"], state[k]) for k in features)
    assert torch.equal(own["decoder.cbr.0.weight"], before["decoder.cbr.0.weight"])


def test_a_whole_segmentation_model_file_loads_its_decoder_too(tmp_path):
    source = fresh("lraspp_mobilenet_v3_large", 1)
    torch.nn.init.normal_(source.decoder.cbr[0].weight)
    path = tmp_path / "run.pth"
    torch.save(source.state_dict(), path)
    model = make_model("lraspp_mobilenet_v3_large", (1, 64, 64), 5, dropout=0.0)
    loaded = load_weights(model, str(path))
    assert len(loaded) == len(source.state_dict())
    assert torch.equal(model.decoder.cbr[0].weight, source.decoder.cbr[0].weight)
    # part of a decoder is another network's file
    torch.save({k: v for k, v in source.state_dict().items() if k != "decoder.cbr.0.weight"}, path)
    with pytest.raises(UsageError, match="the file lacks: decoder.cbr.0.weight"):
        load_weights(model, str(path))


def test_a_file_for_another_backbone_is_one_line(tmp_path):
    path, _ = imagenet_file(tmp_path, torchvision.models.resnet18(weights=None), "resnet18")
    with pytest.raises(UsageError) as err:
        load_weights(fresh("deeplabv3_resnet50", 3), path, model_name="deeplabv3_resnet50")
    line = str(err.value)
    assert "\n" not in line and path in line and "does not fit deeplabv3_resnet50" in line
    assert "the file lacks: backbone.layer1.0.conv3.weight" in line     # resnet50's bottleneck conv
    assert "shapes differ for: backbone.layer1.0.conv1.weight" in line


@pytest.mark.parametrize("name, aux", [("lraspp_mobilenet_v3_large", False), ("fcn_resnet50", True)])
def test_a_whole_torchvision_network_file_gives_torchvisions_logits(tmp_path, name, aux):
    """Backbone, decoder and head from torchvision's own state dict (its auxiliary classifier
    left out): the model computes what torchvision's network computes. For LR-ASPP the
    per-pixel Linear on [low, gated high] is its two 1x1 classifiers summed; FCN's layers keep
    their indices around the dropout that became the head dropout."""
    from torchvision.models import segmentation

    torch.manual_seed(5)
    kw = {"aux_loss": True} if aux else {}
    tv = getattr(segmentation, name)(weights=None, weights_backbone=None, num_classes=5, **kw)
    path, state = imagenet_file(tmp_path, tv, name)
    model = fresh(name, 3).eval()
    loaded = load_weights(model, path, model_name=name)
    assert len(loaded) == len(model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), tv.eval()(x)["out"], atol=1e-4)
    # another class count: all but the head
    other = make_model(name, (3, 64, 64), 7, dropout=0.0)
    assert sorted(load_weights(other, path)) == sorted(k for k in other.state_dict() if not k.startswith("classifier."))
