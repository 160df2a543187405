"""The distillation loss against values computed by hand (math module, not torch)."""

import math

import pytest
import torch

from darkedge.train.losses import distillation_loss


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))


def test_paper_defaults_are_ce_plus_kl():
    # teacher logits (ln 3, 0) -> p_T = (3/4, 1/4); student (0, 0) -> p_S = (1/2, 1/2); label 0 -> CE = ln 2
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    expected = math.log(2.0) + (0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    loss = distillation_loss(student, teacher, torch.tensor([0]))
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert loss.item() == pytest.approx(0.823959, abs=1e-6)


def test_temperature_and_weights():
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    tau, alpha, beta = 2.0, 0.5, 2.0
    # softmax((ln 3, 0) / 2) = (sqrt 3, 1) / (sqrt 3 + 1)
    p_teacher = [math.sqrt(3) / (math.sqrt(3) + 1), 1 / (math.sqrt(3) + 1)]
    expected = alpha * math.log(2.0) + beta * tau**2 * _kl(p_teacher, [0.5, 0.5])
    loss = distillation_loss(student, teacher, torch.tensor([0]), alpha=alpha, beta=beta, tau=tau)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert loss.item() == pytest.approx(0.637300, abs=1e-5)


def test_kl_only_without_labels_and_batchmean():
    # row 2: identical distributions contribute 0, so the batch mean halves row 1's KL
    student = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    teacher = torch.tensor([[math.log(2.0), 0.0, 0.0], [1.0, 2.0, 3.0]])
    expected = _kl([0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]) / 2
    assert distillation_loss(student, teacher, None).item() == pytest.approx(expected, abs=1e-6)


def test_teacher_gets_no_gradient():
    student = torch.randn(4, 5, requires_grad=True)
    teacher = torch.randn(4, 5, requires_grad=True)
    distillation_loss(student, teacher, torch.tensor([0, 1, 2, 3]), tau=3.0).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_equal_logits_leave_only_cross_entropy():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(-1.0) + math.exp(0.5)))
    loss = distillation_loss(logits, logits.clone(), torch.tensor([0]), tau=4.0)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_hint_loss_by_hand_scale_free_and_detached():
    from darkedge.train.losses import hint_loss

    # unit vectors (1, 0) and (0, 1): squared distance 2; (3, 0) vs (1, 0): same direction, 0
    student = torch.tensor([[3.0, 0.0], [0.0, 5.0]], requires_grad=True)
    teacher = torch.tensor([[1.0, 0.0], [2.0, 0.0]], requires_grad=True)
    loss = hint_loss(student, teacher)
    assert loss.item() == pytest.approx((0.0 + 2.0) / 2, abs=1e-6)
    loss.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
