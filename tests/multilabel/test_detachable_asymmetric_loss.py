"""DetachableAsymmetricLoss: against a transcription of the ASL authors'
code in both modes, against MMPretrain's AsymmetricLoss (not detached), and
its detached gradient against the closed form written out here."""
import math

import pytest
import torch
from mmpretrain.models.losses import AsymmetricLoss
from mmpretrain.registry import MODELS

from lmfloss_mm.models.losses import DetachableAsymmetricLoss

SETTINGS = [dict(gamma_pos=0.0, gamma_neg=4.0, clip=0.05),
            dict(gamma_pos=1.0, gamma_neg=2.0, clip=0.1),
            dict(gamma_pos=0.5, gamma_neg=3.0, clip=None)]
IDS = ['asl-train', 'gammas', 'no-clip']


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=gen, dtype=torch.float64) * 3
    hard = (torch.rand(6, 5, generator=gen) < 0.4).double()
    hard[0] = 0
    hard[1] = 1
    soft = torch.rand(6, 5, generator=gen, dtype=torch.float64)
    return logits, hard, soft


def asl_code(x, y, gamma_neg, gamma_pos, clip, eps=1e-8,
             disable_torch_grad_focal_loss=True):
    """``AsymmetricLoss.forward`` of Alibaba-MIIL/ASL
    (src/loss_functions/losses.py), transcribed."""
    x_sigmoid = torch.sigmoid(x)
    xs_pos = x_sigmoid
    xs_neg = 1 - x_sigmoid
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    los_pos = y * torch.log(xs_pos.clamp(min=eps))
    los_neg = (1 - y) * torch.log(xs_neg.clamp(min=eps))
    loss = los_pos + los_neg
    if gamma_neg > 0 or gamma_pos > 0:
        if disable_torch_grad_focal_loss:
            torch.set_grad_enabled(False)
        pt0 = xs_pos * y
        pt1 = xs_neg * (1 - y)
        pt = pt0 + pt1
        one_sided_gamma = gamma_pos * y + gamma_neg * (1 - y)
        one_sided_w = torch.pow(1 - pt, one_sided_gamma)
        if disable_torch_grad_focal_loss:
            torch.set_grad_enabled(True)
        loss *= one_sided_w
    return -loss.sum()


def value_and_grad(fn, logits):
    x = logits.clone().requires_grad_(True)
    value = fn(x)
    value.backward()
    return value.detach(), x.grad


@pytest.mark.parametrize('detach', [True, False])
@pytest.mark.parametrize('params', SETTINGS, ids=IDS)
def test_equals_the_asl_code(batch, params, detach):
    logits, hard, soft = batch
    loss = DetachableAsymmetricLoss(**params, detach_focusing_weight=detach,
                                    reduction='sum')
    for target in (hard, soft):
        got = value_and_grad(lambda x: loss(x, target), logits)
        code = value_and_grad(
            lambda x: asl_code(x, target, disable_torch_grad_focal_loss=detach,
                               **params), logits)
        torch.testing.assert_close(got, code)


@pytest.mark.parametrize('params', SETTINGS, ids=IDS)
def test_not_detached_it_is_mmpretrains_asymmetric_loss(batch, params):
    logits, hard, _ = batch
    ours = DetachableAsymmetricLoss(**params, detach_focusing_weight=False)
    theirs = AsymmetricLoss(**params)
    weight = torch.tensor([0., 1., 2., 0.5, 1., 3.], dtype=torch.float64)
    for kwargs in (dict(), dict(avg_factor=6), dict(weight=weight),
                   dict(reduction_override='none')):
        torch.testing.assert_close(
            value_and_grad(lambda x: ours(x, hard, **kwargs).sum(), logits),
            value_and_grad(lambda x: theirs(x, hard, **kwargs).sum(),
                           logits))


def detached_gradient(x, y, gamma_pos, gamma_neg, clip):
    """d loss / d x with the focusing weight a constant, for a 0/1 target:
    positive: -(1 - p) (1 - p)^g+; negative with q = 1 - p + m < 1:
    p (1 - p) / q (p - m)^g- (d(-log q)/dx = p (1 - p) / q), else 0."""
    p = 1 / (1 + math.exp(-x))
    if y == 1:
        return -(1 - p) * (1 - p)**gamma_pos
    m = clip or 0.0
    q = 1 - p + m
    if q >= 1:
        return 0.0
    return p * (1 - p) / q * (p - m)**gamma_neg


@pytest.mark.parametrize('params', SETTINGS, ids=IDS)
def test_detached_gradient_is_the_closed_form(batch, params):
    logits, hard, _ = batch
    loss = DetachableAsymmetricLoss(**params, reduction='sum')
    _, grad = value_and_grad(lambda x: loss(x, hard), logits)
    expected = torch.tensor(
        [[detached_gradient(x, y, **params) for x, y in zip(r, t)]
         for r, t in zip(logits.tolist(), hard.tolist())],
        dtype=torch.float64)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-13)
    # the values do not depend on the option, the gradients do
    attached = DetachableAsymmetricLoss(**params, reduction='sum',
                                        detach_focusing_weight=False)
    value, attached_grad = value_and_grad(lambda x: attached(x, hard),
                                          logits)
    torch.testing.assert_close(value, loss(logits, hard))
    assert not torch.allclose(grad, attached_grad)


def test_defaults_are_the_asl_training_script():
    loss = MODELS.build(dict(type='DetachableAsymmetricLoss'))
    assert (loss.gamma_pos, loss.gamma_neg, loss.clip, loss.eps) == (
        0.0, 4.0, 0.05, 1e-8)
    assert loss.detach_focusing_weight is True
    assert (loss.reduction, loss.loss_weight) == ('mean', 1.0)
    assert 'detach_focusing_weight=True' in repr(loss)


def test_without_focusing_it_is_binary_cross_entropy(batch):
    logits, hard, _ = batch
    loss = DetachableAsymmetricLoss(gamma_pos=0, gamma_neg=0, clip=None,
                                    reduction='none')
    torch.testing.assert_close(
        loss(logits, hard),
        torch.nn.functional.binary_cross_entropy_with_logits(
            logits, hard, reduction='none'))


def test_class_indices_become_one_hot_rows_and_loss_weight(batch):
    logits, _, _ = batch
    labels = torch.tensor([0, 4, 2, 1, 3, 0])
    loss = DetachableAsymmetricLoss(loss_weight=0.5)
    torch.testing.assert_close(
        loss(logits, labels),
        0.5 * DetachableAsymmetricLoss()(
            logits, torch.nn.functional.one_hot(labels, 5).double()))


def test_extreme_logits_and_half_precision():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 30.0]],
                     requires_grad=True)
    for target in (torch.tensor([[1., 0., 1.], [0., 1., 0.]]),
                   torch.tensor([[0., 1., 0.], [1., 0., 1.]])):
        for detach in (True, False):
            x.grad = None
            value = DetachableAsymmetricLoss(
                detach_focusing_weight=detach)(x, target)
            value.backward()
            assert torch.isfinite(value) and torch.isfinite(x.grad).all()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = DetachableAsymmetricLoss()(x.bfloat16(), target)
    assert value.dtype == torch.float32


@pytest.mark.parametrize('kwargs,message', [
    (dict(gamma_neg=-1), 'gamma_neg and gamma_pos must be >= 0'),
    (dict(clip=1.0), r'clip must be None or in \[0, 1\)'),
    (dict(eps=0.0), r'eps must be in \(0, 1\)'),
    (dict(reduction='batchmean'), 'reduction'),
])
def test_invalid_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DetachableAsymmetricLoss(**kwargs)


def test_targets_are_validated(batch):
    logits, hard, _ = batch
    loss = DetachableAsymmetricLoss()
    with pytest.raises(ValueError, match=r'must lie in \[0, 1\]'):
        loss(logits, hard * 2)
    with pytest.raises(ValueError, match='weight must have shape'):
        loss(logits, hard, weight=torch.ones(3))
