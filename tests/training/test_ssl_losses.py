"""The unlabeled losses of UDA, Mean Teacher and Pseudo-Label against numbers worked out by hand
on 2 rows and 3 classes, their weight schedules, and the teacher's moving average."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from alstudy.data import get_dataset
from alstudy.training.methods import resolve_options
from alstudy.training.ssl import MeanTeacher, PseudoLabel, make_term
from alstudy.training.ssl.mean_teacher import consistency
from alstudy.training.ssl.pseudo_label import pseudo_label_loss
from alstudy.training.ssl.term import linear_rampup, sigmoid_rampup
from alstudy.training.ssl.uda import uda_loss

E = math.exp


def test_uda_loss_is_the_masked_kl_from_the_sharpened_target():
    target = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.0, 0.0]])
    strong = torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0]], requires_grad=True)
    # row 0: confidence e^2 / (e^2 + 1 + e^-1) = 0.8438 >= 0.8, kept; row 1: 0.4519, masked
    # target of row 0 at T = 0.4: softmax([5, 0, -2.5]) = [0.99276, 0.00669, 0.00055]
    # log softmax(strong row 0) = [1, 0.5, 0] - log(e + e^0.5 + 1) = [-0.68034, -1.18034, -1.68034]
    # KL = sum q (log q - log p) = 0.66825 - 0.02560 - 0.00320 = 0.63933; mean over 2 rows
    z = E(5.0) + 1 + E(-2.5)
    q = [E(5.0) / z, 1 / z, E(-2.5) / z]
    log_p = [v - math.log(E(1.0) + E(0.5) + 1) for v in (1.0, 0.5, 0.0)]
    by_hand = sum(qi * (math.log(qi) - lp) for qi, lp in zip(q, log_p)) / 2
    loss, mask = uda_loss(target, strong, temperature=0.4, threshold=0.8)
    assert mask.tolist() == [1.0, 0.0]
    assert loss.item() == pytest.approx(by_hand, rel=1e-5) and by_hand == pytest.approx(0.31967, abs=1e-5)
    loss.backward()
    assert strong.grad[1].abs().sum() == 0 and strong.grad[0].abs().sum() > 0   # masked row: no signal
    # without sharpening (T = 1) the target is the prediction itself: KL(p || p) = 0
    same, _ = uda_loss(target, target, temperature=1.0, threshold=0.0)
    assert same.item() == pytest.approx(0.0, abs=1e-6)


def test_mean_teacher_consistency_is_the_squared_distance_of_the_softmaxes():
    student = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    # row 0: p = [e, 1, 1] / (e + 2) = [0.57612, 0.21194, 0.21194] against 1/3 each: 0.08842
    # row 1: 1/3 each against [1, e^2, 1] / (e^2 + 2) = [0.10650, 0.78699, 0.10650]: 0.30870
    p0 = [E(1) / (E(1) + 2), 1 / (E(1) + 2), 1 / (E(1) + 2)]
    q1 = [1 / (E(2) + 2), E(2) / (E(2) + 2), 1 / (E(2) + 2)]
    by_hand = (sum((a - 1 / 3) ** 2 for a in p0) + sum((1 / 3 - b) ** 2 for b in q1)) / 2
    value = consistency(student, teacher)
    assert value.item() == pytest.approx(by_hand, rel=1e-5) and by_hand == pytest.approx(0.19856, abs=1e-5)
    value.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_pseudo_label_loss_is_the_masked_cross_entropy_with_the_argmax():
    logits = torch.tensor([[4.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    # row 0: confidence e^4 / (e^4 + 2) = 0.96466 >= 0.95: label 0, CE = -log 0.96466; row 1 masked
    loss, mask = pseudo_label_loss(logits, threshold=0.95)
    assert mask.tolist() == [1.0, 0.0]
    assert loss.item() == pytest.approx(-math.log(E(4) / (E(4) + 2)) / 2, rel=1e-5)
    everyone, mask = pseudo_label_loss(logits, threshold=0.0)          # Lee's original: every row
    assert mask.tolist() == [1.0, 1.0]
    assert everyone.item() == pytest.approx((-math.log(E(4) / (E(4) + 2)) - math.log(E(1) / (E(1) + 2))) / 2,
                                            rel=1e-5)


def test_ramps():
    assert sigmoid_rampup(0, 10) == pytest.approx(E(-5.0))
    assert sigmoid_rampup(5, 10) == pytest.approx(E(-1.25))
    assert sigmoid_rampup(10, 10) == sigmoid_rampup(99, 10) == sigmoid_rampup(0, 0) == 1.0
    # Lee's alpha(t) / alpha_f with T1 = 10, T2 = 60
    assert [linear_rampup(s, 10, 60) for s in (0, 9, 10, 35, 60, 99)] == [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]


def test_pseudo_label_term_weighs_its_loss_by_lees_schedule():
    data = get_dataset("digits")
    options = resolve_options("pseudo_label", {"threshold": 0.0, "lambda_u": 3.0}, where="t")
    term = make_term("pseudo_label", data.x_train[:50], data=data, options=options, batch_size=4)
    assert isinstance(term, PseudoLabel)
    term.bind(nn.Identity(), total=100)                  # T1 = 10, T2 = 60 steps
    logits = torch.tensor([[4.0, 0.0, 0.0]] * 28)
    ce = -math.log(E(4) / (E(4) + 2))
    weights = []
    for step in range(100):
        if step in (5, 35, 80):
            weights.append(term.loss(logits).item())
        term.after_step()
    assert weights == pytest.approx([0.0, 3.0 * 0.5 * ce, 3.0 * ce], rel=1e-5)
    assert term.stats()["ssl_mask_rate"] == 1.0 and term.stats()["ssl_consistency"] == pytest.approx(ce, rel=1e-5)


def teacher_term(**options) -> tuple[MeanTeacher, nn.Module]:
    data = get_dataset("digits")
    term = make_term("mean_teacher", data.x_train[:50], data=data, batch_size=4,
                     options=resolve_options("mean_teacher", options, where="t"))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    term.bind(model, total=10)
    return term, model


def test_the_teacher_is_a_moving_average_of_the_student():
    term, student = teacher_term(ema_decay=0.6)
    w0 = student[1].weight.detach().clone()
    assert torch.equal(term.teacher[1].weight, w0) and term.teacher is not student
    with torch.no_grad():
        student[1].weight.add_(1.0)
    term.after_step()                       # a = min(1 - 1/2, 0.6) = 0.5
    assert torch.allclose(term.teacher[1].weight, w0 + 0.5)
    with torch.no_grad():
        student[1].weight.add_(1.0)         # the student is now w0 + 2
    term.after_step()                       # a = min(1 - 1/3, 0.6) = 0.6
    assert torch.allclose(term.teacher[1].weight, 0.6 * (w0 + 0.5) + 0.4 * (w0 + 2.0))
    assert not any(p.requires_grad for p in term.teacher.parameters())


@pytest.mark.parametrize("teacher_scores", [True, False])
def test_the_model_after_training_is_the_teacher_unless_asked(teacher_scores):
    term, student = teacher_term(teacher_scores=teacher_scores)
    with torch.no_grad():
        student[1].weight.add_(1.0)
    term.after_step()
    student_w = student[1].weight.detach().clone()
    term.finish(student)
    expected = term.teacher[1].weight if teacher_scores else student_w
    assert torch.equal(student[1].weight, expected) and not torch.equal(term.teacher[1].weight, student_w)
    assert term.stats()["ssl_model"] == ("teacher" if teacher_scores else "student")


def test_mean_teacher_weight_ramps_up_and_the_views_differ():
    term, student = teacher_term(lambda_u=10.0, rampup=0.5, view=1.0, mu=7)   # ramp over 5 of 10 steps
    gen, host = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    xs = term.inputs(gen, host)
    assert xs.shape == (28, 1, 8, 8) and not torch.equal(xs, term._teacher_in)   # two views of each row
    value = consistency(student(xs), term.teacher(term._teacher_in)).item()
    assert term.loss(student(xs)).item() == pytest.approx(10.0 * E(-5.0) * value, rel=1e-5)
    assert value > 0          # same weights, other views: not the identically-zero consistency
