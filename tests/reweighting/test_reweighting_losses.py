"""WeightedCrossEntropyLoss, ClassBalancedLoss and LogitAdjustedLoss against
loop formulas, and MMPretrain's loss contract for each of them."""
import math
import textwrap

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.registry import MODELS

from .reference import (bwcce_weights, cb_weights, focal_ce_sample,
                        inverse_weights, omega, targets)

COUNTS = [500, 120, 40, 9, 3]
LOG_PRIOR = [math.log(n / sum(COUNTS)) for n in COUNTS]


def expected_mean(logits, label, weights, gamma=0.0, bias=None,
                  normalize=False):
    """The 'mean' reduction of the loop formula with ClsHead's
    avg_factor=N: sum_i l_i / N, or sum_i l_i / sum_i omega_i."""
    rows = logits.double().tolist()
    qs = targets(label, logits.size(1))
    losses = [focal_ce_sample(z, q, weights, gamma, bias)
              for z, q in zip(rows, qs)]
    if normalize and weights is not None:
        return sum(losses) / sum(omega(q, weights) for q in qs)
    return sum(losses) / len(losses)


# -- formulas ----------------------------------------------------------------
@pytest.mark.parametrize('scheme,reference', [
    ('bwcce', bwcce_weights),
    ('effective_number', lambda c: cb_weights(c, 0.9999)),
    ('inverse_frequency', inverse_weights),
])
@pytest.mark.parametrize('soft', [False, True], ids=['hard', 'soft'])
def test_weighted_ce_matches_the_formula(batch, scheme, reference, soft):
    logits, labels, soft_labels, _ = batch
    target = soft_labels if soft else labels
    loss = MODELS.build(dict(type='WeightedCrossEntropyLoss',
                             class_weight=scheme, cls_num_list=COUNTS))
    weights = reference(COUNTS)
    torch.testing.assert_close(loss.class_weight.double(),
                               torch.tensor(weights, dtype=torch.float64))
    # default: PyTorch's weighted mean, the official nn.CrossEntropyLoss(w)
    value = loss(logits, target, avg_factor=12)
    assert value.item() == pytest.approx(
        expected_mean(logits, target, weights, normalize=True), rel=1e-6)
    if not soft:
        torch.testing.assert_close(
            value, F.cross_entropy(logits, labels,
                                   weight=torch.tensor(weights).double()))
    # normalize_class_weight=False: MMPretrain's sum_i w_yi l_i / N
    plain = MODELS.build(dict(type='WeightedCrossEntropyLoss',
                              class_weight=scheme, cls_num_list=COUNTS,
                              normalize_class_weight=False))
    assert plain(logits, target, avg_factor=12).item() == pytest.approx(
        expected_mean(logits, target, weights), rel=1e-6)


def test_bwcce_normalisation_makes_the_weight_scale_cancel(batch):
    logits, labels, soft, _ = batch
    bwcce = MODELS.build(dict(type='WeightedCrossEntropyLoss',
                              cls_num_list=COUNTS))
    scaled = MODELS.build(dict(type='WeightedCrossEntropyLoss',
                               cls_num_list=None,
                               class_weight=[7 * w for w in
                                             bwcce_weights(COUNTS)]))
    for target in (labels, soft):
        torch.testing.assert_close(bwcce(logits, target),
                                   scaled(logits, target))
    # unweighted when class_weight=None: plain cross-entropy
    plain = MODELS.build(dict(type='WeightedCrossEntropyLoss',
                              class_weight=None, cls_num_list=None))
    torch.testing.assert_close(plain(logits, labels),
                               F.cross_entropy(logits, labels))


@pytest.mark.parametrize('gamma', [0.0, 1.5])
@pytest.mark.parametrize('beta', [0.9999, 0.99, 0.0])
@pytest.mark.parametrize('soft', [False, True], ids=['hard', 'soft'])
def test_class_balanced_loss_matches_the_formula(batch, gamma, beta, soft):
    logits, labels, soft_labels, _ = batch
    target = soft_labels if soft else labels
    loss = MODELS.build(dict(type='ClassBalancedLoss', beta=beta,
                             gamma=gamma, cls_num_list=COUNTS))
    weights = cb_weights(COUNTS, beta) if beta else [1.0] * 5
    assert sum(weights) == pytest.approx(5)
    torch.testing.assert_close(loss.class_weight.double(),
                               torch.tensor(weights, dtype=torch.float64))
    # Cui et al.'s normalisation: sum_i w_yi l_i / N
    assert loss(logits, target, avg_factor=12).item() == pytest.approx(
        expected_mean(logits, target, weights, gamma), rel=1e-6)


def test_class_balanced_weights_order_and_limits():
    loss = MODELS.build(dict(type='ClassBalancedLoss', cls_num_list=COUNTS))
    w = loss.class_weight.tolist()
    assert w == sorted(w)  # rarer class, larger weight
    # beta -> 1 approaches inverse frequency; a small beta saturates the
    # effective number (1 - beta^n) / (1 - beta) at 1 / (1 - beta)
    near_one = MODELS.build(dict(type='ClassBalancedLoss', beta=1 - 1e-9,
                                 cls_num_list=COUNTS))
    torch.testing.assert_close(near_one.class_weight.double(),
                               torch.tensor(inverse_weights(COUNTS),
                                            dtype=torch.float64),
                               rtol=1e-5, atol=0)
    flat = MODELS.build(dict(type='ClassBalancedLoss', beta=0.9,
                             cls_num_list=COUNTS)).class_weight
    assert (flat[1] / flat[0]).item() == pytest.approx(
        (1 - 0.9**500) / (1 - 0.9**120), rel=1e-6)
    assert (flat[2] / flat[0]).item() == pytest.approx(1 / (1 - 0.9**40),
                                                       rel=1e-6)
    assert (flat[4] / flat[0]).item() == pytest.approx(1 / (1 - 0.9**3),
                                                       rel=1e-6)
    assert (flat[4] / flat[0]).item() < 4  # vs 500 / 3 for inverse frequency


@pytest.mark.parametrize('tau', [1.0, 0.5, 2.0])
@pytest.mark.parametrize('soft', [False, True], ids=['hard', 'soft'])
def test_logit_adjusted_loss_matches_the_formula(batch, tau, soft):
    logits, labels, soft_labels, _ = batch
    target = soft_labels if soft else labels
    loss = MODELS.build(dict(type='LogitAdjustedLoss', tau=tau,
                             cls_num_list=COUNTS))
    bias = [tau * b for b in LOG_PRIOR]
    assert loss(logits, target, avg_factor=12).item() == pytest.approx(
        expected_mean(logits, target, None, bias=bias), rel=1e-6)


def test_balanced_softmax_is_ce_on_logits_plus_log_counts(batch):
    """tau = 1: softmax(z + log n) (Ren et al.) equals softmax(z + log pi)."""
    logits, labels, _, _ = batch
    loss = MODELS.build(dict(type='LogitAdjustedLoss', cls_num_list=COUNTS))
    log_counts = torch.tensor(COUNTS, dtype=torch.float64).log()
    torch.testing.assert_close(loss(logits, labels),
                               F.cross_entropy(logits + log_counts, labels))
    # tau = 0 is plain CE; balanced counts give plain CE for any tau
    for cfg in (dict(tau=0.0, cls_num_list=COUNTS),
                dict(tau=3.0, cls_num_list=[7] * 5)):
        other = MODELS.build(dict(type='LogitAdjustedLoss', **cfg))
        torch.testing.assert_close(other(logits, labels),
                                   F.cross_entropy(logits, labels))
    # the adjustment lowers the loss of frequent-class samples and raises
    # that of rare-class samples relative to CE
    per_sample = loss(logits, labels, reduction_override='none')
    ce = F.cross_entropy(logits, labels, reduction='none')
    assert (per_sample[labels == 0] < ce[labels == 0]).all()
    assert (per_sample[labels == 4] > ce[labels == 4]).all()


def test_logit_adjusted_with_class_weights(batch):
    logits, labels, soft, _ = batch
    weights = [0.5, 1.0, 1.5, 2.0, 3.0]
    loss = MODELS.build(dict(type='LogitAdjustedLoss', cls_num_list=COUNTS,
                             class_weight=weights))
    for target in (labels, soft):
        assert loss(logits, target, avg_factor=12).item() == pytest.approx(
            expected_mean(logits, target, weights, bias=LOG_PRIOR), rel=1e-6)


# MMPretrain's loss contract (reductions, weights, gradcheck, hard vs soft
# path, extreme logits, autocast, buffers, target validation) is checked for
# these losses with all the others in tests/losses/test_loss_contract.py.


@pytest.mark.parametrize('cfg', [
    dict(type='WeightedCrossEntropyLoss', class_weight='bwcce'),
    dict(type='ClassBalancedLoss'),
    dict(type='LogitAdjustedLoss'),
], ids=['wce', 'cb', 'la'])
def test_auto_counts_are_required_before_use(cfg, batch):
    logits, labels, _, _ = batch
    loss = MODELS.build(cfg)
    assert loss.auto_class_counts
    with pytest.raises(RuntimeError, match='SetClassCountsHook'):
        loss(logits, labels)
    loss.set_class_counts(COUNTS)
    assert torch.isfinite(loss(logits, labels))


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match='need the training class counts'):
        MODELS.build(dict(type='WeightedCrossEntropyLoss',
                          cls_num_list=None))
    with pytest.raises(ValueError, match='unknown class_weight'):
        MODELS.build(dict(type='WeightedCrossEntropyLoss',
                          class_weight='sqrt'))
    with pytest.raises(ValueError, match=r'beta must be in \[0, 1\)'):
        MODELS.build(dict(type='ClassBalancedLoss', beta=1.0))
    with pytest.raises(ValueError, match='gamma must be >= 0'):
        MODELS.build(dict(type='ClassBalancedLoss', gamma=-1))
    with pytest.raises(ValueError, match='tau must be'):
        MODELS.build(dict(type='LogitAdjustedLoss', tau=-0.5))
    with pytest.raises(ValueError, match='LDAM margins|need the training'):
        MODELS.build(dict(type='LogitAdjustedLoss', cls_num_list=None))
    with pytest.raises(ValueError, match='have 0 training samples'):
        MODELS.build(dict(type='LogitAdjustedLoss', cls_num_list=[3, 0, 2]))


def test_built_from_a_config_file_with_custom_imports(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(textwrap.dedent("""
        custom_imports = dict(imports=['lmfloss_mm'],
                              allow_failed_imports=False)
        loss = dict(type='ClassBalancedLoss', cls_num_list=[30, 10, 2],
                    beta=0.99, gamma=2.0)
    """))
    loss = MODELS.build(Config.fromfile(str(cfg_file)).loss)
    assert (loss.beta, loss.gamma) == (0.99, 2.0)
    torch.testing.assert_close(loss.class_weight.double(),
                               torch.tensor(cb_weights([30, 10, 2], 0.99),
                                            dtype=torch.float64))
