"""Model zoo: every registered model yields embeddings and logits; bad names are clear errors."""

from __future__ import annotations

import pytest
import torch

from alstudy.errors import UsageError
from alstudy.models import make_model, model_names
from alstudy.models.registry import is_dense

SHAPES = {"mlp": (1, 8, 8), "cnn1d": (1, 40), "cnn2d": (1, 28, 28),
          "resnet18": (3, 32, 32), "wrn28_2": (3, 32, 32)}
CLASSIFIERS = [name for name in model_names() if not is_dense(name)]   # segmentation: test_segmentation.py


def test_every_classification_model_has_a_test_shape():
    assert sorted(CLASSIFIERS) == sorted(SHAPES)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_model_exposes_embedding_and_logits(name):
    model = make_model(name, SHAPES[name], 7, dropout=0.2).eval()
    x = torch.randn(3, *SHAPES[name])
    emb = model.features(x)
    assert emb.shape == (3, model.embed_dim)
    assert torch.allclose(model.head(emb), model(x), atol=1e-5)
    assert model(x).shape == (3, 7)


def test_unknown_model_or_option_is_a_clear_error():
    with pytest.raises(UsageError, match="choices: mlp"):
        make_model("vgg", (3, 32, 32), 10)
    with pytest.raises(UsageError, match="no option 'depthh'"):
        make_model("mlp", (10,), 2, options={"depthh": 3})
    with pytest.raises(UsageError, match="does not fit"):
        make_model("cnn2d", (10,), 2)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_forward_levels_gives_the_logits_and_features_from_shallow_to_deep(name):
    model = make_model(name, SHAPES[name], 7, dropout=0.2).eval()
    x = torch.randn(3, *SHAPES[name])
    logits, levels = model.forward_levels(x)
    assert torch.allclose(logits, model(x), atol=1e-5)
    assert len(levels) == len(model.levels) >= 2 and all(t.shape[0] == 3 for t in levels)
    assert levels[-1].shape[1] >= levels[0].shape[1]  # deeper levels are at least as wide
    # the hooks that caught the levels are gone: a plain forward records nothing
    assert not any(m._forward_hooks for m in model.modules())
