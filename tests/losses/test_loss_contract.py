"""MMPretrain's loss contract, checked for every loss of the package."""
import math
import textwrap

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.models.losses import weight_reduce_loss
from mmpretrain.registry import MODELS

COUNTS = [500, 120, 40, 9, 3]
CONFIGS = [
    dict(type='SoftmaxFocalLoss', gamma=1.5, class_weight='margins',
         cls_num_list=COUNTS),
    dict(type='SoftmaxFocalLoss', gamma=0.5),
    dict(type='LDAMLoss', cls_num_list=COUNTS, class_weight='margins'),
    dict(type='LDAMLoss', cls_num_list=COUNTS),
    dict(type='LMFLoss', cls_num_list=COUNTS),
    dict(type='WeightedCrossEntropyLoss', cls_num_list=COUNTS),
    dict(type='WeightedCrossEntropyLoss', cls_num_list=COUNTS,
         class_weight='effective_number', normalize_class_weight=False),
    dict(type='ClassBalancedLoss', cls_num_list=COUNTS, gamma=1.5),
    dict(type='ClassBalancedLoss', cls_num_list=COUNTS, gamma=0.5,
         normalize_class_weight=True),
    dict(type='LogitAdjustedLoss', cls_num_list=COUNTS),
    dict(type='LogitAdjustedLoss', cls_num_list=COUNTS, tau=0.7,
         class_weight='inverse_frequency'),
]
IDS = [
    'focal-weighted', 'focal-gamma0.5', 'ldam-weighted', 'ldam', 'lmf',
    'wce-bwcce', 'wce-cb', 'cb-focal', 'cb-focal-norm', 'la', 'la-w'
]


@pytest.fixture(params=CONFIGS, ids=IDS)
def case(request):
    """A loss and the config it was built from."""
    return MODELS.build(dict(request.param)), request.param


@pytest.fixture
def loss(case):
    return case[0]


def test_reductions_weight_avg_factor_and_loss_weight(case, batch):
    loss, cfg = case
    logits, labels, soft, _ = batch
    weight = torch.linspace(0.1, 2.0, 12, dtype=torch.float64)
    for target in (labels, soft):
        per_sample = loss(logits, target, reduction_override='none')
        assert per_sample.shape == (12, )
        torch.testing.assert_close(
            loss(logits, target), per_sample.mean())
        torch.testing.assert_close(
            loss(logits, target, reduction_override='sum'), per_sample.sum())
        torch.testing.assert_close(
            loss(logits, target, avg_factor=7.0), per_sample.sum() / 7.0)
        torch.testing.assert_close(
            loss(logits, target, weight=weight, avg_factor=12),
            weight_reduce_loss(per_sample, weight, 'mean', 12))
        torch.testing.assert_close(
            loss(logits, target, weight=weight, reduction_override='none'),
            per_sample * weight)
    scaled = MODELS.build(dict(cfg, loss_weight=2.5))
    torch.testing.assert_close(scaled(logits, labels),
                               2.5 * loss(logits, labels))
    sums = MODELS.build(dict(cfg, reduction='sum'))
    torch.testing.assert_close(sums(logits, labels),
                               loss(logits, labels, reduction_override='sum'))
    with pytest.raises(ValueError, match='avg_factor can not be used'):
        loss(logits, labels, avg_factor=3, reduction_override='sum')
    with pytest.raises(ValueError, match="reduction must be"):
        loss(logits, labels, reduction_override='max')
    with pytest.raises(ValueError, match='sample weight must have shape'):
        loss(logits, labels, weight=torch.ones(3))


def test_gradcheck_in_float64(loss, batch):
    logits, labels, soft, _ = batch
    logits = logits[:6].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda z: loss(z, labels[:6]), (logits, ))
    assert torch.autograd.gradcheck(lambda z: loss(z, soft[:6]), (logits, ))


def test_hard_kernel_gradient_equals_autograd_of_the_soft_path(loss, batch):
    """Hard labels go through the fused kernel, one-hot soft labels through
    autograd: values and gradients must agree."""
    logits, labels, _, _ = batch
    z1 = logits.clone().requires_grad_()
    z2 = logits.clone().requires_grad_()
    hard, soft = loss(z1, labels), loss(z2, F.one_hot(labels, 5).double())
    torch.testing.assert_close(hard, soft)
    hard.backward()
    soft.backward()
    torch.testing.assert_close(z1.grad, z2.grad)
    assert z1.grad.abs().sum() > 0


def test_gradient_direction_lowers_the_true_class_loss(loss, batch):
    logits, labels, _, _ = batch
    logits = logits.clone().requires_grad_()
    loss(logits, labels).backward()
    true_class_grad = logits.grad.gather(1, labels[:, None])
    # never pushes the true logit down; zero only where s=30 saturates
    assert (true_class_grad <= 0).all()
    assert (true_class_grad < -1e-6).sum() >= 8
    torch.testing.assert_close(logits.grad.sum(dim=1),
                               torch.zeros(12, dtype=torch.float64))


@pytest.mark.parametrize('scale', [1e4, -1e4])
def test_extreme_logits_give_finite_loss_and_gradients(loss, scale):
    logits = torch.zeros(5, 5)
    logits[:, 0] = scale  # saturated, right for label 0, wrong for others
    logits[2, 3] = -scale
    logits.requires_grad_()
    labels = torch.tensor([0, 1, 2, 3, 4])
    value = loss(logits, labels)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(logits.grad).all()
    soft = F.one_hot(labels, 5).float() * 0.9 + 0.02
    logits.grad = None
    loss(logits, soft).backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_computed_in_float32_under_autocast(loss, batch, dtype):
    logits, labels, _, _ = batch
    low = logits.to(dtype)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        value = loss(low, labels)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, loss(low.float(), labels))


def test_buffers_follow_the_module_and_stay_out_of_checkpoints(loss, batch):
    logits, labels, _, _ = batch
    assert loss.state_dict() == {}
    loss = loss.to(torch.float64)
    for name, buffer in loss.named_buffers():
        assert buffer.dtype == torch.float64, name
    torch.testing.assert_close(loss(logits, labels),
                               loss.float()(logits, labels))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_runs_on_cuda(loss, batch):
    logits, labels, soft, _ = batch
    cuda = loss.cuda()
    torch.testing.assert_close(cuda(logits.cuda(), labels.cuda()).cpu(),
                               loss.cpu()(logits, labels))


def test_targets_are_validated(loss, batch):
    logits, labels, _, _ = batch
    with pytest.raises(ValueError, match=r'labels \[5\] are out of range'):
        loss(logits, torch.tensor([0, 5] * 6))
    with pytest.raises(ValueError, match=r'labels \[-1\] are out of range'):
        loss(logits, torch.tensor([0, -1] * 6))
    with pytest.raises(ValueError, match='must be integer class indices'):
        loss(logits, labels.float())
    with pytest.raises(ValueError, match=r'\(N, 5\) soft targets'):
        loss(logits, torch.ones(12, 4))
    with pytest.raises(ValueError, match='11 targets for 12 rows'):
        loss(logits, labels[:11])
    with pytest.raises(ValueError, match='non-negative'):
        loss(logits, -torch.ones(12, 5))
    # (N, 1) index labels are accepted like (N,)
    torch.testing.assert_close(loss(logits, labels[:, None]),
                               loss(logits, labels))


def test_soft_target_rows_must_sum_to_one(loss, batch):
    logits, labels, soft, _ = batch
    multi_hot = F.one_hot(labels, 5).double()
    multi_hot[[1, 4], 0] = 1.0  # two rows with two positives
    with pytest.raises(ValueError, match=r'2 of 12 rows do not: rows \[1, 4\]'
                       r' sum to \[2\.0, 2\.0\].*multi-label loss'):
        loss(logits, multi_hot)
    with pytest.raises(ValueError, match=r'rows \[0\] sum to \[nan\]'):
        loss(logits, torch.cat([soft[:1] * math.nan, soft[1:]]))
    # the tolerance is 1e-3 on the row sum (2 * eps for half precision)
    loss(logits, soft * (1 + 9e-4))
    with pytest.raises(ValueError, match=r'within 1e-03'):
        loss(logits, soft * (1 + 1.1e-3))
    half = loss(logits, soft.to(torch.float16))
    torch.testing.assert_close(half, loss(logits, soft), rtol=1e-2, atol=0)
    with pytest.raises(ValueError, match=r'within 2e-03'):
        loss(logits, (soft * 1.003).to(torch.float16))


def test_mmpretrain_soft_targets_are_accepted(loss, batch):
    """Mixup, CutMix (the batch augments of MMPretrain's data preprocessor)
    and label smoothing build float32 rows that sum to 1 up to rounding."""
    from mmpretrain.models.losses import LabelSmoothLoss
    from mmpretrain.models.utils.batch_augments import CutMix, Mixup
    logits, labels, _, _ = batch
    one_hot = F.one_hot(labels, 5).float()
    images = torch.rand(12, 3, 8, 8)
    torch.manual_seed(0)
    targets = [augment(images, one_hot)[1]
               for augment in (Mixup(alpha=1.0), CutMix(alpha=1.0))]
    targets.append(LabelSmoothLoss(label_smooth_val=0.1, num_classes=5)
                   .original_smooth_label(one_hot))
    for target in targets:
        assert target.dtype == torch.float32 and (target < 1).any()
        assert torch.isfinite(loss(logits, target))


def test_multi_label_targets_keep_rows_that_do_not_sum_to_one(batch):
    logits, labels, _, _ = batch
    multi_hot = F.one_hot(labels, 5).float()
    multi_hot[:, 0] = 1.0
    multi_label = MODELS.build(dict(type='RobustAsymmetricLoss'))
    assert torch.isfinite(multi_label(logits, multi_hot))


def test_built_from_a_config_file_with_custom_imports(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(textwrap.dedent("""
        custom_imports = dict(imports=['lmfloss_mm'],
                              allow_failed_imports=False)
        loss = dict(type='LMFLoss', cls_num_list=[30, 10, 2], gamma=2.0)
    """))
    cfg = Config.fromfile(str(cfg_file))
    loss = MODELS.build(cfg.loss)
    assert type(loss).__name__ == 'LMFLoss' and loss.gamma == 2.0
    torch.testing.assert_close(loss.margins,
                               torch.tensor([0.5 * (2 / 30)**0.25,
                                             0.5 * (2 / 10)**0.25, 0.5]))


def test_names_do_not_shadow_mmpretrain():
    from mmpretrain.models.losses import FocalLoss
    assert MODELS.get('FocalLoss') is FocalLoss
    for name in ('SoftmaxFocalLoss', 'LDAMLoss', 'LMFLoss',
                 'WeightedCrossEntropyLoss', 'ClassBalancedLoss',
                 'LogitAdjustedLoss'):
        assert MODELS.get(name).__module__.startswith('lmfloss_mm.')


@pytest.mark.parametrize('num_classes', [7, 300])
def test_many_class_path_is_exact(num_classes):
    """From 32 classes on, LDAM floors softmax entries 70 nats below the row
    maximum (a speed measure); the loss and gradient must not change."""
    from lmfloss_mm.models.losses import LMFLoss
    g = torch.Generator().manual_seed(1)
    logits = (torch.randn(16, num_classes, generator=g,
                          dtype=torch.float64) * 10).requires_grad_()
    labels = torch.randint(0, num_classes, (16, ), generator=g)
    counts = torch.randint(1, 500, (num_classes, ), generator=g).tolist()
    loss = LMFLoss(counts)
    value = loss(logits, labels)
    value.backward()
    # reference without the floor: plain autograd composition
    z = logits.detach().clone().requires_grad_()
    delta = loss.margins.double()
    w = loss.class_weight.double()
    shifted = 30 * (z - F.one_hot(labels, num_classes) * delta)
    ldam = F.cross_entropy(shifted, labels, weight=w)
    log_p = F.log_softmax(z, 1).gather(1, labels[:, None]).squeeze(1)
    focal = (-(1 - log_p.exp())**1.5 * log_p * w[labels]).mean()
    expected = 1.5 * ldam + focal
    expected.backward()
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(logits.grad, z.grad)
    assert torch.autograd.gradcheck(lambda x: loss(x, labels[:4]),
                                    (logits.detach()[:4].requires_grad_(), ))
