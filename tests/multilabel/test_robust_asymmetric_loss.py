"""RobustAsymmetricLoss against an element-wise transcription of the released
code, its reduction against MMPretrain's AsymmetricLoss, limiting cases,
gradients, extreme logits and dtypes."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.losses import AsymmetricLoss
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from lmfloss_mm.models.losses.robust_asymmetric_loss import (
    RobustAsymmetricLoss, robust_asymmetric_loss)

from . import reference as ref

CODE_DEFAULTS = dict(gamma_neg=4.0, gamma_pos=0.0, clip=0.05, eps=1e-8,
                     lamb=1.5, epsilon_pos=1.0, epsilon_neg=0.0,
                     epsilon_pos_pow=-2.5)
OTHER = dict(gamma_neg=2.0, gamma_pos=1.0, clip=0.1, eps=1e-6, lamb=2.0,
             epsilon_pos=0.3, epsilon_neg=0.5, epsilon_pos_pow=1.0)
NO_CLIP = dict(CODE_DEFAULTS, clip=0.0, gamma_pos=0.5)


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=gen, dtype=torch.float64) * 3
    hard = (torch.rand(6, 5, generator=gen) < 0.4).double()
    hard[0] = 0  # a sample without positives
    hard[1] = 1  # a sample with only positives
    soft = torch.rand(6, 5, generator=gen, dtype=torch.float64)
    return logits, hard, soft


def expected(logits, targets, **kw):
    return torch.tensor(ref.expected_matrix(logits, targets, **kw),
                        dtype=torch.float64)


def test_defaults_are_the_released_code_defaults():
    loss = RobustAsymmetricLoss()
    got = {k: getattr(loss, k) for k in CODE_DEFAULTS}
    assert got == CODE_DEFAULTS
    assert loss.reduction == 'mean' and loss.loss_weight == 1.0
    assert loss.detach_focusing_weight is False


@pytest.mark.parametrize('params', [CODE_DEFAULTS, OTHER, NO_CLIP],
                         ids=['code-defaults', 'other', 'no-clip'])
def test_hard_targets_match_the_code_element_wise(batch, params):
    logits, hard, _ = batch
    loss = RobustAsymmetricLoss(**params, reduction='none')
    got = loss(logits, hard)
    assert got.shape == (6, 5) and got.dtype == torch.float64
    code = torch.tensor([[ref.code_element(x, y, **params)
                          for x, y in zip(r, t)]
                         for r, t in zip(logits.tolist(), hard.tolist())],
                        dtype=torch.float64)
    torch.testing.assert_close(got, code, rtol=1e-12, atol=1e-14)
    # float32 input: computed in float32, same values to float32 precision
    got32 = loss(logits.float(), hard.float())
    assert got32.dtype == torch.float32
    torch.testing.assert_close(got32.double(), code, rtol=2e-5, atol=1e-6)
    assert float(got.sum()) > 0
    if params['epsilon_neg'] == 0:
        assert bool((got >= 0).all())
    else:  # -(log q + eps_neg q) < 0 for q near 1 (documented)
        assert bool((got[hard == 0] < 0).any())


@pytest.mark.parametrize('params', [CODE_DEFAULTS, OTHER],
                         ids=['code-defaults', 'other'])
def test_soft_targets_are_the_expectation_of_the_hard_loss(batch, params):
    logits, _, soft = batch
    got = RobustAsymmetricLoss(**params, reduction='none')(logits, soft)
    torch.testing.assert_close(got, expected(logits, soft, **params),
                               rtol=1e-12, atol=1e-14)
    # documented deviation: the code interpolates p_t and gamma with y
    code = torch.tensor([[ref.code_element(x, y, **params)
                          for x, y in zip(r, t)]
                         for r, t in zip(logits.tolist(), soft.tolist())],
                        dtype=torch.float64)
    assert not torch.allclose(got, code, rtol=1e-3)


def test_mixup_of_two_samples_is_the_mixture_of_their_losses(batch):
    logits, hard, _ = batch
    loss = RobustAsymmetricLoss(reduction='none')
    lam = 0.3
    mixed = lam * hard + (1 - lam) * hard.flip(0)
    torch.testing.assert_close(
        loss(logits, mixed),
        lam * loss(logits, hard) + (1 - lam) * loss(logits, hard.flip(0)))


def test_reductions_avg_factor_and_loss_weight(batch):
    logits, hard, _ = batch
    elem = expected(logits, hard)
    loss = RobustAsymmetricLoss(loss_weight=0.7)
    close = torch.testing.assert_close
    # 'mean' without avg_factor: mean over all N * C elements
    close(loss(logits, hard), 0.7 * elem.mean())
    # the head's call: avg_factor=N -> mean over samples of per-sample sums
    close(loss(logits, hard, avg_factor=6), 0.7 * elem.sum(1).mean())
    close(loss(logits, hard, avg_factor=4), 0.7 * elem.sum() / 4)
    close(loss(logits, hard, reduction_override='sum'), 0.7 * elem.sum())
    close(loss(logits, hard, reduction_override='none'), 0.7 * elem)
    close(loss(logits, hard, reduction_override='none', avg_factor=6),
          0.7 * elem)
    close(RobustAsymmetricLoss(reduction='sum')(logits, hard), elem.sum())
    with pytest.raises(ValueError, match='avg_factor'):
        loss(logits, hard, avg_factor=6, reduction_override='sum')
    with pytest.raises(ValueError, match='reduction'):
        loss(logits, hard, reduction_override='max')
    with pytest.raises(ValueError, match='reduction'):
        RobustAsymmetricLoss(reduction='batchmean')


def test_sample_and_element_weights(batch):
    logits, hard, _ = batch
    elem = expected(logits, hard)
    loss = RobustAsymmetricLoss()
    w = torch.tensor([0., 1., 2., 0.5, 1., 3.], dtype=torch.float64)
    close = torch.testing.assert_close
    close(loss(logits, hard, weight=w, avg_factor=6),
          (w[:, None] * elem).sum() / 6)
    close(loss(logits, hard, weight=w[:, None], reduction_override='sum'),
          (w[:, None] * elem).sum())
    w2 = torch.rand(6, 5, dtype=torch.float64)
    close(loss(logits, hard, weight=w2, reduction_override='none'),
          w2 * elem)
    with pytest.raises(ValueError, match='weight must have shape'):
        loss(logits, hard, weight=torch.ones(5))


@pytest.mark.parametrize('reduction,avg_factor',
                         [('none', None), ('none', 6), ('mean', None),
                          ('mean', 6), ('sum', None)])
def test_reduction_is_mmpretrain_asymmetric_loss_reduction(batch, reduction,
                                                           avg_factor):
    """On all-positive targets with the polynomial terms off, RAL is ASL's
    positive term, so the two must agree for every reduction/weight."""
    logits, _, _ = batch
    ones = torch.ones_like(logits)
    w = torch.tensor([0., 1., 2., 0.5, 1., 3.], dtype=torch.float64)
    for gamma_pos in (0.0, 1.0):
        ral = RobustAsymmetricLoss(gamma_pos=gamma_pos, epsilon_pos=0.0,
                                   epsilon_pos_pow=0.0, reduction=reduction,
                                   loss_weight=2.0)
        asl = AsymmetricLoss(gamma_pos=gamma_pos, reduction=reduction,
                             loss_weight=2.0)
        for weight in (None, w):
            torch.testing.assert_close(
                ral(logits, ones, weight=weight, avg_factor=avg_factor),
                asl(logits, ones, weight=weight, avg_factor=avg_factor))


def test_negatives_are_asl_times_the_hill_factor(batch):
    logits, _, _ = batch
    zeros = torch.zeros_like(logits)
    ral = RobustAsymmetricLoss(reduction='none')(logits, zeros)
    asl = AsymmetricLoss(gamma_neg=4.0, clip=0.05, reduction='none')(logits,
                                                                     zeros)
    hill = torch.tensor([[ref.hill_factor(x) for x in row]
                         for row in logits.tolist()], dtype=torch.float64)
    torch.testing.assert_close(ral, asl * hill)
    # the Hill factor down-weights confident negatives (possible missing
    # labels): it is < 1 everywhere here, and the loss of a very confident
    # negative is less than ASL's
    assert bool((hill < 1).all())
    assert float(ral[logits > 2].max()) < float(asl[logits > 2].max())


def test_positive_limit_is_binary_cross_entropy(batch):
    """gamma_pos = epsilon_pos = epsilon_pos_pow = 0: the positive term is
    -log(sigmoid(x)), i.e. BCE on positives (no such limit on negatives)."""
    logits, _, _ = batch
    ones = torch.ones_like(logits)
    ral = RobustAsymmetricLoss(epsilon_pos=0.0, epsilon_pos_pow=0.0,
                               reduction='none')
    torch.testing.assert_close(
        ral(logits, ones),
        F.binary_cross_entropy_with_logits(logits, ones, reduction='none'))
    # the default polynomial: BCE - (1 - p) + 1.25 (1 - p)^2
    p = torch.sigmoid(logits)
    torch.testing.assert_close(
        RobustAsymmetricLoss(reduction='none')(logits, ones),
        F.binary_cross_entropy_with_logits(logits, ones, reduction='none') -
        (1 - p) + 1.25 * (1 - p) ** 2)


def test_index_labels_are_one_hot(batch):
    logits, _, _ = batch
    labels = torch.tensor([0, 4, 2, 2, 1, 3])
    one_hot = F.one_hot(labels, 5).double()
    loss = RobustAsymmetricLoss()
    torch.testing.assert_close(loss(logits, labels, avg_factor=6),
                               loss(logits, one_hot, avg_factor=6))
    torch.testing.assert_close(loss(logits, labels[:, None]),
                               loss(logits, one_hot))
    torch.testing.assert_close(loss(logits, one_hot.bool()),
                               loss(logits, one_hot))
    with pytest.raises(ValueError, match='out of range'):
        loss(logits, torch.tensor([0, 5, 1, 1, 1, 1]))


def test_invalid_targets_and_arguments(batch):
    logits, hard, _ = batch
    loss = RobustAsymmetricLoss()
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        loss(logits, hard * 2)
    with pytest.raises(ValueError, match='non-negative'):
        loss(logits, -hard)
    with pytest.raises(ValueError, match='shape'):
        loss(logits, hard[:, :3])
    with pytest.raises(ValueError, match='targets for'):
        loss(logits, hard[:4])
    with pytest.raises(ValueError, match='lamb'):
        RobustAsymmetricLoss(lamb=0.9)
    with pytest.raises(ValueError, match='gamma'):
        RobustAsymmetricLoss(gamma_neg=-1)
    with pytest.raises(ValueError, match='clip'):
        RobustAsymmetricLoss(clip=1.0)
    with pytest.raises(ValueError, match='eps'):
        RobustAsymmetricLoss(eps=0)


def test_gradcheck_float64(batch):
    logits, hard, soft = batch
    # keep away from the kinks: the clip at p = clip (x = -2.944) and the
    # eps clamp (x < -18.4)
    x = logits.clone()
    x[(x + 2.944).abs() < 0.05] += 0.2
    x = x.clamp(-8, 8).requires_grad_(True)
    for params in (CODE_DEFAULTS, OTHER):
        for target in (hard, soft):
            loss = RobustAsymmetricLoss(**params)
            assert torch.autograd.gradcheck(
                lambda z: loss(z, target, avg_factor=6), (x, ))
            assert torch.autograd.gradcheck(
                lambda z: loss(z, target, reduction_override='none'), (x, ))


def test_focusing_weight_gradient_flows_unless_detached(batch):
    logits, hard, _ = batch
    grads, values = [], []
    for detach in (False, True):
        x = logits.clone().requires_grad_(True)
        value = RobustAsymmetricLoss(detach_focusing_weight=detach)(x, hard)
        value.backward()
        grads.append(x.grad)
        values.append(value.detach())
    torch.testing.assert_close(values[0], values[1])
    assert not torch.allclose(grads[0], grads[1])
    # detached: the gradient of the loss with the weights as constants
    x = logits.clone().requires_grad_(True)
    q = (1 - torch.sigmoid(x) + 0.05).clamp(max=1)
    w_neg = (1 - q).detach() ** 4
    elem = robust_asymmetric_loss(x, hard, gamma_neg=0.0) * \
        (hard + (1 - hard) * w_neg)
    elem.mean().backward()
    torch.testing.assert_close(grads[1], x.grad)


@pytest.mark.parametrize('params', [CODE_DEFAULTS, OTHER, NO_CLIP],
                         ids=['code-defaults', 'other', 'no-clip'])
def test_extreme_logits_give_finite_loss_and_gradient(params):
    x = torch.tensor([[1e4, -1e4, 0.0, 50.0], [-1e4, 1e4, -50.0, 1e4]],
                     requires_grad=True)
    for target in (torch.tensor([[1., 0., 1., 0.], [0., 1., 1., 0.]]),
                   torch.tensor([[0., 1., 0., 1.], [1., 0., 0., 1.]]),
                   torch.full((2, 4), 0.3)):
        x.grad = None
        value = RobustAsymmetricLoss(**params)(x, target, avg_factor=2)
        value.backward()
        assert torch.isfinite(value) and bool(torch.isfinite(x.grad).all())
    # a confident wrong positive costs about -log(eps) (the code's clamp)
    wrong = RobustAsymmetricLoss(reduction='none')(
        torch.tensor([[-1e4]]), torch.tensor([[1.]]))
    torch.testing.assert_close(
        wrong, torch.tensor([[-torch.log(torch.tensor(1e-8)) - 1 + 1.25]]))
    # a confident correct positive costs nothing
    assert float(RobustAsymmetricLoss()(torch.tensor([[1e4]]),
                                        torch.tensor([[1.]]))) == 0


def test_half_precision_and_autocast_compute_in_float32(batch):
    logits, hard, _ = batch
    x32 = logits.float()
    reference = RobustAsymmetricLoss()(x32, hard.float(), avg_factor=6)
    for dtype in (torch.float16, torch.bfloat16):
        value = RobustAsymmetricLoss()(x32.to(dtype), hard, avg_factor=6)
        assert value.dtype == torch.float32
        expected_value = RobustAsymmetricLoss()(x32.to(dtype).float(),
                                                hard.float(), avg_factor=6)
        torch.testing.assert_close(value, expected_value)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = RobustAsymmetricLoss()(x32, hard.float(), avg_factor=6)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, reference)


def test_multilabel_head_uses_it_with_avg_factor_n(batch):
    logits, hard, _ = batch
    head = MODELS.build(
        dict(type='MultiLabelLinearClsHead', num_classes=5, in_channels=3,
             loss=dict(type='RobustAsymmetricLoss', loss_weight=0.5)))
    feats = torch.randn(6, 3)
    samples = [DataSample().set_gt_label(torch.nonzero(row).flatten())
               for row in hard]
    with torch.no_grad():
        scores = head((feats, ))
    got = head.loss((feats, ), samples)['loss']
    want = 0.5 * expected(scores.double(), hard).sum() / 6
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-7)
