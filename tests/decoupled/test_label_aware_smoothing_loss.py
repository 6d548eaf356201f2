"""LabelAwareSmoothingLoss against a transcription of the MiSLAS code with
numpy, its soft targets, gradients, reductions and arguments."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from lmfloss_mm.models.losses import (LabelAwareSmoothingLoss,
                                      label_aware_smoothing)

COUNTS = [500, 120, 40, 9, 3]


def mislas_smoothing(counts, head, tail, shape='concave', power=None):
    """``LabelAwareSmoothing.__init__`` of the MiSLAS code (methods.py)."""
    n = np.array(counts, dtype=np.float64)
    n_1, n_k = n.max(), n.min()
    if shape == 'concave':
        return tail + (head - tail) * np.sin((n - n_k) * np.pi /
                                             (2 * (n_1 - n_k)))
    if shape == 'linear':
        return tail + (head - tail) * (n - n_k) / (n_1 - n_k)
    if shape == 'convex':
        return head + (head - tail) * np.sin(1.5 * np.pi + (n - n_k) * np.pi
                                             / (2 * (n_1 - n_k)))
    return tail + (head - tail) * np.power((n - n_k) / (n_1 - n_k), power)


def mislas_losses(logits, labels, smooth):
    """``LabelAwareSmoothing.forward`` per sample (before its mean)."""
    z = logits.detach().double().numpy()
    log_p = z - z.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    out = []
    for row, y in zip(log_p, labels.tolist()):
        eps = smooth[y]
        out.append((1 - eps) * -row[y] + eps * -row.mean())
    return np.array(out)


@pytest.mark.parametrize('shape,power', [('concave', None), ('linear', None),
                                         ('convex', None), ('exp', 2.0)])
def test_smoothing_factors_are_the_mislas_formulas(shape, power):
    got = label_aware_smoothing(torch.tensor(COUNTS), 0.4, 0.1, shape, power)
    np.testing.assert_allclose(
        got.numpy(), mislas_smoothing(COUNTS, 0.4, 0.1, shape, power),
        rtol=1e-12, atol=1e-15)
    assert got[0] == pytest.approx(0.4) and got[-1] == pytest.approx(0.1)


# The factors are a float32 buffer (as every count-derived buffer of the
# package), so float64 losses agree with the float64 reference to ~1e-8.
RTOL = 1e-7


def test_hard_targets_match_the_mislas_code(batch):
    logits, labels, _, _ = batch
    loss = LabelAwareSmoothingLoss(eps_head=0.3, eps_tail=0.0,
                                   cls_num_list=COUNTS, reduction='none')
    expected = mislas_losses(logits, labels, mislas_smoothing(COUNTS, 0.3, 0))
    np.testing.assert_allclose(loss(logits, labels).numpy(), expected,
                               rtol=RTOL)
    mean = LabelAwareSmoothingLoss(cls_num_list=COUNTS)
    assert mean(logits, labels).item() == pytest.approx(expected.mean())


def test_soft_targets_are_the_expectation_of_the_hard_loss(batch):
    logits, labels, soft, _ = batch
    loss = LabelAwareSmoothingLoss(cls_num_list=COUNTS, reduction='none')
    per_class = np.stack([
        mislas_losses(logits, torch.full((12, ), j), mislas_smoothing(
            COUNTS, 0.3, 0.0)) for j in range(5)], axis=1)
    expected = (soft.numpy() * per_class).sum(1)
    np.testing.assert_allclose(loss(logits, soft).numpy(), expected,
                               rtol=RTOL)
    # Mixup of two labels: lam * L(y1) + (1 - lam) * L(y2)
    lam, y2 = 0.3, labels.flip(0)
    mixed = lam * F.one_hot(labels, 5).double() + \
        (1 - lam) * F.one_hot(y2, 5).double()
    torch.testing.assert_close(loss(logits, mixed),
                               lam * loss(logits, labels) +
                               (1 - lam) * loss(logits, y2))


def test_gradient_is_softmax_minus_the_smoothed_target(batch):
    logits, labels, soft, _ = batch
    loss = LabelAwareSmoothingLoss(eps_head=0.4, eps_tail=0.1,
                                   cls_num_list=COUNTS)
    eps = torch.tensor(mislas_smoothing(COUNTS, 0.4, 0.1)).float().double()
    z = logits.clone().requires_grad_()
    loss(z, labels).backward()
    smoothed = (1 - eps[labels])[:, None] * F.one_hot(labels, 5) + \
        eps[labels][:, None] / 5
    torch.testing.assert_close(z.grad,
                               (F.softmax(logits, 1) - smoothed) / 12)
    z6 = logits[:6].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: loss(x, labels[:6]), (z6, ))
    assert torch.autograd.gradcheck(lambda x: loss(x, soft[:6]), (z6, ))


def test_reductions_sample_weights_and_loss_weight(batch):
    logits, labels, _, _ = batch
    loss = LabelAwareSmoothingLoss(cls_num_list=COUNTS, loss_weight=2.0)
    per_sample = loss(logits, labels, reduction_override='none')
    weight = torch.linspace(0.1, 2.0, 12, dtype=torch.float64)
    torch.testing.assert_close(loss(logits, labels), per_sample.mean())
    torch.testing.assert_close(loss(logits, labels, avg_factor=7.0),
                               per_sample.sum() / 7.0)
    torch.testing.assert_close(
        loss(logits, labels, weight=weight, reduction_override='sum'),
        (per_sample * weight.float()).sum())
    expected = 2 * mislas_losses(logits, labels,
                                 mislas_smoothing(COUNTS, 0.3, 0.0))
    np.testing.assert_allclose(per_sample.numpy(), expected, rtol=RTOL)


def test_counts_come_from_the_training_set():
    loss = MODELS.build(dict(type='LabelAwareSmoothingLoss'))  # 'auto'
    assert loss.auto_class_counts
    logits = torch.zeros(2, 5)
    with pytest.raises(RuntimeError, match='SetClassCountsHook'):
        loss(logits, torch.tensor([0, 1]))
    loss.set_class_counts(COUNTS)
    torch.testing.assert_close(
        loss.smoothing.double(),
        torch.tensor(mislas_smoothing(COUNTS, 0.3, 0.0)), rtol=1e-6,
        atol=1e-7)
    assert loss(logits, torch.tensor([0, 1])).item() == pytest.approx(
        math.log(5))  # uniform logits: every term is log C
    assert loss.state_dict() == {}  # derived from the counts, not saved
    with pytest.raises(ValueError, match='same training count'):
        loss.set_class_counts([7, 7, 7, 7, 7])


@pytest.mark.parametrize('kwargs,message', [
    (dict(eps_head=1.2), r'eps_head must be in \[0, 1\]'),
    (dict(eps_tail=-0.1), r'eps_tail must be in \[0, 1\]'),
    (dict(shape='sigmoid'), 'shape must be one of'),
    (dict(shape='exp'), 'power'),
    (dict(shape='linear', power=2.0), 'power'),
    (dict(shape='exp', power=0.0), 'power'),
    (dict(cls_num_list=None), 'training class counts'),
])
def test_invalid_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LabelAwareSmoothingLoss(**kwargs)


def test_targets_are_validated(batch):
    logits, labels, soft, _ = batch
    loss = LabelAwareSmoothingLoss(cls_num_list=COUNTS)
    with pytest.raises(ValueError, match='out of range'):
        loss(logits, labels + 1)
    with pytest.raises(ValueError, match='sum to 1'):
        loss(logits, soft * 2)
