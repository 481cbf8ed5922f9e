"""The plateau stop rule: it stops early where training has converged, runs to the cap where it
has not, is reproducible, and leaves the fixed rule exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alstudy.config import TrainConfig
from alstudy.errors import UsageError
from alstudy.models import make_model
from alstudy.training import evaluate, fit, num_steps
from alstudy.training.stopping import Plateau


def _blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    return torch.randn(n, 8, generator=g) * 0.5 + torch.nn.functional.one_hot(y, 8).float() * 2, y


def _noise(n=512, seed=0):
    """Random labels: the model can only memorize them, and its loss keeps falling for long."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def _fit(x, y, train, *, seed=0):
    torch.manual_seed(0)
    model = make_model("mlp", (8,), 3, dropout=0.1)
    stats = fit(model, x, y, train=train, to_float=lambda t: t, augment=lambda t, g, **_: t,
                gen=torch.Generator().manual_seed(seed), mix_rng=np.random.default_rng(seed))
    return model, stats


def test_plateau_stops_early_on_an_easy_problem_and_still_learns_it():
    train = TrainConfig(stop="plateau", epochs=100, min_steps=10)
    model, stats = _fit(*_blobs(), train)
    assert stats.stop_reason == "plateau"
    assert train.min_steps <= stats.steps < num_steps(200, train) / 2
    assert evaluate(model, *_blobs(seed=1), to_float=lambda t: t)[0] > 0.95


def test_plateau_runs_to_the_cap_while_the_loss_keeps_falling():
    train = TrainConfig(stop="plateau", epochs=20, min_steps=10, lr=0.01)
    _, stats = _fit(*_noise(), train)
    assert (stats.stop_reason, stats.steps) == ("cap", num_steps(512, train))


def test_the_floor_holds_even_when_the_loss_is_flat_from_the_start():
    # lr 0 keeps the loss where it starts: a plateau at the first possible check
    train = TrainConfig(stop="plateau", epochs=100, min_steps=120, lr=1e-12, patience=10)
    _, stats = _fit(*_blobs(), train)
    assert stats.stop_reason == "plateau" and stats.steps == 120


def test_plateau_is_deterministic_given_the_seed():
    train = TrainConfig(stop="plateau", epochs=100, min_steps=10)
    (a, sa), (b, sb) = _fit(*_blobs(), train), _fit(*_blobs(), train)
    assert sa == sb
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    c, _ = _fit(*_blobs(), train, seed=5)  # another seed, another batch order: another model
    assert not all(torch.equal(a.state_dict()[k], c.state_dict()[k]) for k in a.state_dict())


def test_fixed_rule_ignores_the_plateau_knobs():
    x, y = _blobs()
    a, sa = _fit(x, y, TrainConfig(stop="fixed", epochs=10))
    b, sb = _fit(x, y, TrainConfig(stop="fixed", epochs=10, patience=1, tolerance=0.5, cooldown=3.0))
    assert sa == sb and (sa.steps, sa.stop_reason) == (num_steps(200, TrainConfig(epochs=10)), "fixed")
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_schedule_holds_the_rate_then_decays_to_zero_by_the_end():
    rule = Plateau(400, TrainConfig(stop="plateau", epochs=100, min_steps=10, warmup=0.05, patience=10),
                   device=torch.device("cpu"))
    assert rule.factor(0) == pytest.approx(1 / 20) and rule.factor(19) == 1.0
    flat = torch.tensor(1.0)
    stopped = next(step for step in range(400) if rule.observe(step, flat))
    assert rule.reason == "plateau" and rule.start == 20  # first check 10, no improvement by 20
    assert stopped + 1 == rule.steps == 20 + 5       # cooldown 0.25 x 20 steps
    assert rule.factor(19) == 1.0 and rule.factor(20) == 1.0 and rule.factor(24) < 0.1


def test_swa_under_the_plateau_rule_averages_the_decay_phase():
    train = TrainConfig(stop="plateau", epochs=100, min_steps=10, swa=0.2)
    model, stats = _fit(*_blobs(), train)
    assert stats.stop_reason == "plateau"
    assert evaluate(model, *_blobs(seed=1), to_float=lambda t: t)[0] > 0.95


@pytest.mark.parametrize("key,value", [("stop", "early"), ("patience", -1), ("tolerance", 1.0),
                                       ("cooldown", -0.5)])
def test_stop_settings_are_validated(key, value):
    with pytest.raises(UsageError, match=f"hyperparameters.{key}"):
        TrainConfig.from_mapping({key: value})
