import pytest
import torch
import torch.nn.functional as F

from lmfloss_mm.models.losses import LDAMLoss, LMFLoss, SoftmaxFocalLoss

from . import reference as ref


def official_lmf(logits, labels, counts, alpha=1.5, beta=1.0, gamma=1.5,
                 max_m=0.5, s=30.0):
    """The structure of the official code (Adnan-Sadi/LMFLOSS), written out:
    m_list as LDAM margins and as class weights of both terms, LDAM through
    F.cross_entropy(weight=m_list), focal as NLL(weight=m_list) times
    (1 - p_t)**gamma with a plain mean, alpha on LDAM, beta on focal."""
    n = torch.tensor(counts, dtype=torch.float64)
    m_list = 1.0 / n.pow(0.25)
    m_list = m_list * (max_m / m_list.max())
    index = F.one_hot(labels, len(counts)).bool()
    output = torch.where(index, logits - m_list[labels][:, None], logits)
    ldam = F.cross_entropy(s * output, labels, weight=m_list)
    log_p = F.log_softmax(logits, dim=-1)
    ce = F.nll_loss(log_p, labels, weight=m_list, reduction='none')
    pt = log_p.gather(1, labels[:, None]).squeeze(1).exp()
    focal = ((1 - pt)**gamma * ce).mean()
    return alpha * ldam + beta * focal


def test_defaults_are_the_official_hyper_parameters():
    loss = LMFLoss()
    assert (loss.ldam_weight, loss.focal_weight, loss.gamma, loss.max_m,
            loss.s) == (1.5, 1.0, 1.5, 0.5, 30.0)
    assert loss.class_weight_spec == 'margins'
    assert loss.auto_class_counts


def test_matches_the_official_code(batch):
    logits, labels, _, counts = batch
    # MMPretrain's ClsHead passes avg_factor = batch size
    value = LMFLoss(counts)(logits, labels, avg_factor=len(labels))
    torch.testing.assert_close(value, official_lmf(logits, labels, counts))


@pytest.mark.parametrize('ldam_weight,focal_weight', [(1.5, 1.0), (1.0, 1.5),
                                                      (0.0, 2.0), (2.0, 0.0)])
def test_weights_scale_their_own_term(batch, ldam_weight, focal_weight):
    logits, labels, soft, counts = batch
    delta = ref.margins(counts)
    lmf = LMFLoss(counts, ldam_weight=ldam_weight, focal_weight=focal_weight,
                  max_m=0.5)
    ldam = LDAMLoss(counts, class_weight='margins')
    focal = SoftmaxFocalLoss(1.5, class_weight=delta)
    for target in (labels, soft):
        torch.testing.assert_close(
            lmf(logits, target),
            ldam_weight * ldam(logits, target) +
            focal_weight * focal(logits, target))
    torch.testing.assert_close(
        lmf(logits, labels, avg_factor=12),
        official_lmf(logits, labels, counts, ldam_weight, focal_weight))


def test_swapping_the_weights_changes_the_loss(batch):
    """alpha must scale LDAM: the swapped public variant is a different
    loss."""
    logits, labels, _, counts = batch
    assert not torch.allclose(
        LMFLoss(counts, ldam_weight=1.5, focal_weight=1.0)(logits, labels),
        LMFLoss(counts, ldam_weight=1.0, focal_weight=1.5)(logits, labels))


def test_soft_targets_match_formula(batch):
    logits, _, soft, counts = batch
    delta = ref.margins(counts, 0.4)
    loss = LMFLoss(counts, max_m=0.4, gamma=2.0, s=10.0, reduction='none',
                   normalize_class_weight=False)
    expected = [
        1.5 * ref.ldam_sample(z, q, delta, 10.0, delta) +
        ref.focal_sample(z, q, 2.0, delta)
        for z, q in zip(ref.rows(logits), soft.tolist())
    ]
    torch.testing.assert_close(loss(logits, soft), ref.as_tensor(expected))


def test_focal_normalization_option(batch):
    logits, labels, _, counts = batch
    delta = torch.tensor(ref.margins(counts), dtype=torch.float64)
    plain = LMFLoss(counts, ldam_weight=0.0)
    normalized = LMFLoss(counts, ldam_weight=0.0,
                         focal_normalize_class_weight=True)
    ratio = normalized(logits, labels) / plain(logits, labels)
    torch.testing.assert_close(ratio, 1 / delta[labels].mean())


def test_unweighted_variant(batch):
    logits, labels, _, counts = batch
    loss = LMFLoss(counts, class_weight=None)
    torch.testing.assert_close(
        loss(logits, labels),
        1.5 * LDAMLoss(counts)(logits, labels) +
        SoftmaxFocalLoss(1.5)(logits, labels))


def test_invalid_arguments():
    with pytest.raises(ValueError, match='must be >= 0'):
        LMFLoss(ldam_weight=-1)
    with pytest.raises(ValueError, match='need the training class counts'):
        LMFLoss(cls_num_list=None)


@pytest.mark.parametrize('reduction,avg_factor,expected', [
    ('mean', None, lambda per_sample: per_sample.mean()),
    ('mean', 7.0, lambda per_sample: per_sample.sum() / 7.0),
    ('sum', None, lambda per_sample: per_sample.sum()),
])
def test_reduction_folded_into_the_kernel(batch, reduction, avg_factor,
                                          expected):
    """Hard labels without sample weights take one fused call whose sum is
    the reduction; value and gradient equal reducing the per-sample losses
    (which take the kernel's per-sample path)."""
    logits, labels, _, counts = batch
    loss = LMFLoss(counts)
    z1, z2 = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    fused = loss(z1, labels, avg_factor=avg_factor,
                 reduction_override=reduction)
    assert fused.grad_fn.name() == 'MarginFocalNLLBackward'  # no reduction node
    reference = expected(loss(z2, labels, reduction_override='none'))
    torch.testing.assert_close(fused, reference, rtol=1e-12, atol=0)
    fused.backward()
    reference.backward()
    torch.testing.assert_close(z1.grad, z2.grad, rtol=1e-12, atol=1e-15)


def test_sum_with_avg_factor_is_still_refused(batch):
    logits, labels, _, counts = batch
    with pytest.raises(ValueError, match='avg_factor can not be used'):
        LMFLoss(counts)(logits, labels, avg_factor=3.0,
                        reduction_override='sum')
