import pytest
import torch
import torch.nn.functional as F

from lmfloss_mm.models.losses import SoftmaxFocalLoss

from . import reference as ref


@pytest.mark.parametrize('gamma', [0.0, 0.5, 1.5, 2.0])
@pytest.mark.parametrize('weighting', [None, 'list', 'margins', 'bwcce'])
def test_hard_labels_match_formula(batch, gamma, weighting):
    logits, labels, _, counts = batch
    if weighting == 'list':
        a = [0.3, 1.0, 2.0, 0.7, 1.5]
    elif weighting == 'margins':
        a = ref.margins(counts, 0.5)
    elif weighting == 'bwcce':
        a = [(1 - n / sum(counts)) / (len(counts) - 1) for n in counts]
    else:
        a = None
    loss = SoftmaxFocalLoss(
        gamma=gamma, class_weight=a if weighting == 'list' else weighting,
        cls_num_list=counts, reduction='none')
    expected = [ref.focal_sample(z, q, gamma, a)
                for z, q in zip(ref.rows(logits), ref.targets(labels, 5))]
    torch.testing.assert_close(loss(logits, labels), ref.as_tensor(expected))


def test_gamma_zero_is_cross_entropy(batch):
    logits, labels, _, _ = batch
    torch.testing.assert_close(
        SoftmaxFocalLoss(gamma=0)(logits, labels),
        F.cross_entropy(logits, labels))


def test_mean_divides_by_batch_size_and_normalized_by_weights(batch):
    logits, labels, _, counts = batch
    a = ref.margins(counts)
    per_sample = torch.tensor([
        ref.focal_sample(z, q, 1.5, a)
        for z, q in zip(ref.rows(logits), ref.targets(labels, 5))
    ], dtype=torch.float64)
    omega = torch.tensor(a, dtype=torch.float64)[labels]
    plain = SoftmaxFocalLoss(1.5, 'margins', counts)
    normalized = SoftmaxFocalLoss(1.5, 'margins', counts,
                                  normalize_class_weight=True)
    torch.testing.assert_close(plain(logits, labels), per_sample.mean())
    torch.testing.assert_close(
        plain(logits, labels, avg_factor=12), per_sample.sum() / 12)
    torch.testing.assert_close(
        normalized(logits, labels, avg_factor=12),
        per_sample.sum() / omega.sum())


def test_soft_targets_match_formula_and_mixup_is_linear(batch):
    logits, labels, soft, counts = batch
    a = ref.margins(counts)
    loss = SoftmaxFocalLoss(2.0, 'margins', counts, reduction='none')
    expected = [ref.focal_sample(z, q, 2.0, a)
                for z, q in zip(ref.rows(logits), soft.tolist())]
    torch.testing.assert_close(loss(logits, soft), ref.as_tensor(expected))
    # a one-hot soft target is the hard label
    one_hot = F.one_hot(labels, 5).double()
    torch.testing.assert_close(loss(logits, one_hot), loss(logits, labels))
    # Mixup: lam * FL(y1) + (1 - lam) * FL(y2)
    other = labels.roll(1)
    mixed = 0.7 * one_hot + 0.3 * F.one_hot(other, 5).double()
    torch.testing.assert_close(
        loss(logits, mixed),
        0.7 * loss(logits, labels) + 0.3 * loss(logits, other))


def test_focusing_is_per_sample_not_on_the_batch_mean():
    """An easy sample's gradient shrinks relative to a hard one's. Applying
    (1 - exp(-CE))**gamma to the batch-mean CE (the bug of one public LMF
    copy) scales every gradient equally, so the ratio would equal CE's."""
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                          requires_grad=True)
    labels = torch.tensor([0, 0])  # sample 0 easy, sample 1 hard

    def grad_ratio(loss):
        logits.grad = None
        loss.backward()
        norms = logits.grad.norm(dim=1)
        return (norms[0] / norms[1]).item()

    ce_ratio = grad_ratio(F.cross_entropy(logits, labels))
    focal_ratio = grad_ratio(SoftmaxFocalLoss(gamma=2)(logits, labels))
    ce = F.cross_entropy(logits, labels)
    batch_mean_ratio = grad_ratio((1 - torch.exp(-ce))**2 * ce)
    assert batch_mean_ratio == pytest.approx(ce_ratio, rel=1e-5)
    assert focal_ratio < 0.1 * ce_ratio


def test_invalid_arguments():
    with pytest.raises(ValueError, match='gamma must be >= 0'):
        SoftmaxFocalLoss(gamma=-1)
    with pytest.raises(ValueError, match='need the training class counts'):
        SoftmaxFocalLoss(class_weight='margins')
    with pytest.raises(ValueError, match='unknown class_weight'):
        SoftmaxFocalLoss(class_weight='inverse')
    with pytest.raises(ValueError, match='non-negative'):
        SoftmaxFocalLoss(class_weight=[1.0, -1.0])
    with pytest.raises(ValueError, match='class_weight has 2 entries'):
        SoftmaxFocalLoss(class_weight=[1.0, 2.0])(torch.zeros(2, 3),
                                                  torch.tensor([0, 1]))
