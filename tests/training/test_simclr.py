"""SimCLR: the NT-Xent loss against hand-computed numbers, pretraining, and how a cycle's model
starts from the encoder (fine-tuned, or only its head trained on frozen features)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alstudy.config import TrainConfig
from alstudy.data import get_dataset
from alstudy.errors import UsageError
from alstudy.models import make_model
from alstudy.models.weights import load_encoder, start_from
from alstudy.rng import numpy_generator, torch_generator
from alstudy.study.pretraining import keep
from alstudy.training import fit
from alstudy.training.simclr import nt_xent, pretrain, run_job
from alstudy.training.simclr_recipe import Job, Recipe


def test_nt_xent_of_two_identical_pairs_is_the_hand_computed_value():
    # rows a=(1,0), b=(0,1), each seen twice: an anchor's positive has cosine 1, both negatives
    # cosine 0, so every anchor's loss is -log(e^(1/t) / (e^(1/t) + 2)); t = 0.5: log((e^2 + 2) / e^2)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert nt_xent(z, z.clone(), 0.5).item() == pytest.approx(0.2395448, abs=1e-6)
    assert nt_xent(3 * z, z, 0.5).item() == pytest.approx(0.2395448, abs=1e-6)   # cosine ignores length


def _reference(z1: np.ndarray, z2: np.ndarray, t: float) -> float:
    """Eq. 1 of Chen et al. 2020 written out: l(i, j) = -log(exp(s_ij/t) / sum_{k != i} exp(s_ik/t)),
    L = 1/2N sum_k [l(2k-1, 2k) + l(2k, 2k-1)], with the views of row k adjacent."""
    views = [v for pair in zip(z1, z2) for v in pair]
    unit = [v / np.linalg.norm(v) for v in views]
    n2 = len(unit)

    def l(i: int, j: int) -> float:
        s = lambda a, b: float(unit[a] @ unit[b]) / t   # noqa: E731
        return -math.log(math.exp(s(i, j)) / sum(math.exp(s(i, k)) for k in range(n2) if k != i))

    return sum(l(2 * k, 2 * k + 1) + l(2 * k + 1, 2 * k) for k in range(n2 // 2)) / n2


def test_nt_xent_equals_the_papers_equation_on_four_rows():
    z1 = np.array([[0.3, -1.2, 0.5], [2.0, 0.1, -0.4]])
    z2 = np.array([[0.1, -1.0, 0.9], [-0.7, 0.8, 0.2]])
    for t in (0.5, 0.1, 1.0):
        got = nt_xent(torch.tensor(z1, dtype=torch.float32), torch.tensor(z2, dtype=torch.float32), t).item()
        assert got == pytest.approx(_reference(z1, z2, t), rel=1e-5)
    # the pair that agrees more has the lower loss: swapping one view's rows raises it
    assert _reference(z1, z2[::-1], 0.5) > _reference(z1, z2, 0.5)


def test_pretraining_lowers_nt_xent():
    data = get_dataset("digits")
    recipe = Recipe(steps=80, batch_size=64)
    torch.manual_seed(0)
    model = make_model("mlp", data.input_shape, data.num_classes)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    stats = pretrain(model, data.x_train, to_float=data.to_float, augment=data.augmenter(recipe.strength),
                     recipe=recipe, gen=torch_generator(0, "simclr"))
    assert stats.steps == 80 and stats.seconds > 0
    # chance level is log(2 * 64 - 1) = 4.84: the two views of a row end up far nearer than that
    assert stats.first_loss > 4.5 and stats.final_loss < stats.first_loss - 0.5
    assert not torch.equal(model.backbone.state_dict()["1.weight"], before["1.weight"])


def test_a_pretraining_is_a_function_of_its_job(tmp_path):
    job = Job("mnist1d", "cnn1d", {"width": 8}, Recipe(steps=6, batch_size=16), 3)
    (a, facts), (b, _) = run_job(job), run_job(job)
    other, _ = run_job(Job("mnist1d", "cnn1d", {"width": 8}, Recipe(steps=6, batch_size=16), 4))
    keep(str(tmp_path), "a", a, facts)
    keep(str(tmp_path), "b", b, facts)
    keep(str(tmp_path), "c", other, facts)
    sa, sb, sc = (load_encoder(str(tmp_path / f"{k}.pt")) for k in "abc")
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert facts["key"] == job.key and facts["steps"] == 6 and facts["recipe"]["steps"] == 6


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("enc"))
    blob, facts = run_job(Job("digits", "mlp", {}, Recipe(steps=10, batch_size=32), 0))
    keep(folder, "enc", blob, facts)
    return f"{folder}/enc.pt"


def _train(model, data, n: int = 40):
    idx = torch.arange(n)
    fit(model, data.x_train[idx], data.y_train[idx], train=TrainConfig(epochs=2, min_steps=20, batch_size=16),
        to_float=data.to_float, augment=data.augmenter(0.0), gen=torch_generator(0, "train"),
        mix_rng=numpy_generator(0, "mixup"))


def test_linear_trains_only_the_head_and_leaves_the_encoder_as_pretrained(encoder):
    data = get_dataset("digits")
    pretrained = {k: v.clone() for k, v in load_encoder(encoder).items()}
    torch.manual_seed(1)
    model = start_from(make_model("mlp", data.input_shape, data.num_classes), encoder, linear=True)
    head = model.classifier.weight.detach().clone()
    _train(model, data)
    after = model.backbone.state_dict()
    # weights and BatchNorm's running statistics alike: the features are frozen
    assert all(torch.equal(after[k], pretrained[k]) for k in pretrained)
    assert not torch.equal(model.classifier.weight, head)


def test_finetune_starts_from_the_encoder_and_trains_all_of_it(encoder):
    data = get_dataset("digits")
    pretrained = load_encoder(encoder)
    torch.manual_seed(1)
    model = start_from(make_model("mlp", data.input_shape, data.num_classes), encoder)
    assert all(torch.equal(model.backbone.state_dict()[k], pretrained[k]) for k in pretrained)
    _train(model, data)
    assert not torch.equal(model.backbone.state_dict()["1.weight"], pretrained["1.weight"])


@pytest.mark.parametrize("values, message", [
    ({"steps": 0}, "pretrain.steps = 0: must be > 0"),
    ({"batch_size": 1}, "pretrain.batch_size = 1: must be >= 2"),
    ({"temperature": "0.5"}, "pretrain.temperature = '0.5': expected a finite number"),
    ({"warmup": 1.0}, "pretrain.warmup = 1.0: must be in [0, 1)"),
    ({"epochs": 3}, "pretrain.epochs: unknown key; allowed: steps, batch_size"),
])
def test_a_bad_recipe_value_is_one_line_naming_it(values, message):
    with pytest.raises(UsageError) as err:
        Recipe.from_mapping(values)
    assert str(err.value).startswith(message)
