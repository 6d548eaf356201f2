import pytest
import torch
import torch.nn.functional as F

from lmfloss_mm.models.losses import LDAMLoss, ldam_margins

from . import reference as ref


def test_margins_follow_the_quarter_power_law():
    counts = torch.tensor([1000., 100., 10.])
    margins = ldam_margins(counts, max_m=0.5)
    assert margins[2].item() == pytest.approx(0.5)  # rarest class: max_m
    assert margins[0].item() == pytest.approx(0.5 * 0.01**0.25)
    # Delta_j * n_j^(1/4) is constant
    assert torch.allclose(margins.double() * counts.double()**0.25,
                          torch.full((3, ), 0.5 * 10**0.25,
                                     dtype=torch.float64))


@pytest.mark.parametrize('max_m,s', [(0.5, 30.0), (0.3, 1.0), (1.0, 5.0)])
@pytest.mark.parametrize('weighting', [None, 'margins', 'list'])
def test_hard_labels_match_formula(batch, max_m, s, weighting):
    logits, labels, _, counts = batch
    delta = ref.margins(counts, max_m)
    w = {None: None, 'margins': delta,
         'list': [0.2, 1.0, 3.0, 0.5, 2.0]}[weighting]
    loss = LDAMLoss(counts, max_m=max_m, s=s,
                    class_weight=w if weighting == 'list' else weighting,
                    normalize_class_weight=False, reduction='none')
    expected = [ref.ldam_sample(z, q, delta, s, w)
                for z, q in zip(ref.rows(logits), ref.targets(labels, 5))]
    torch.testing.assert_close(loss(logits, labels), ref.as_tensor(expected))


def test_normalized_mean_is_pytorch_weighted_cross_entropy(batch):
    """The official code: F.cross_entropy(s * z_shifted, y, weight=Delta)."""
    logits, labels, _, counts = batch
    delta = torch.tensor(ref.margins(counts), dtype=torch.float64)
    shifted = logits - F.one_hot(labels, 5) * delta
    official = F.cross_entropy(30 * shifted, labels, weight=delta)
    loss = LDAMLoss(counts, class_weight='margins')
    torch.testing.assert_close(loss(logits, labels, avg_factor=12), official)
    unnormalized = LDAMLoss(counts, class_weight='margins',
                            normalize_class_weight=False)
    torch.testing.assert_close(
        unnormalized(logits, labels, avg_factor=12),
        official * delta[labels].sum() / 12)


def test_unweighted_is_cross_entropy_on_shifted_scaled_logits(batch):
    logits, labels, _, counts = batch
    delta = torch.tensor(ref.margins(counts, 0.5), dtype=torch.float64)
    expected = F.cross_entropy(30 * (logits - F.one_hot(labels, 5) * delta),
                               labels)
    torch.testing.assert_close(LDAMLoss(counts)(logits, labels), expected)


def test_soft_targets_match_formula(batch):
    logits, labels, soft, counts = batch
    delta = ref.margins(counts)
    loss = LDAMLoss(counts, class_weight='margins',
                    normalize_class_weight=False, reduction='none')
    expected = [ref.ldam_sample(z, q, delta, 30.0, delta)
                for z, q in zip(ref.rows(logits), soft.tolist())]
    torch.testing.assert_close(loss(logits, soft), ref.as_tensor(expected))
    torch.testing.assert_close(
        loss(logits, F.one_hot(labels, 5).double()), loss(logits, labels))
    normalized = LDAMLoss(counts, class_weight='margins')
    omega = [ref.sample_weight(q, delta) for q in soft.tolist()]
    torch.testing.assert_close(
        normalized(logits, soft, avg_factor=12),
        ref.as_tensor(expected).sum() / sum(omega))


def test_counts_can_be_set_later_and_change_the_margins(batch):
    logits, labels, _, counts = batch
    loss = LDAMLoss('auto')
    assert loss.auto_class_counts
    with pytest.raises(RuntimeError, match='SetClassCountsHook'):
        loss(logits, labels)
    loss.set_class_counts(counts)
    torch.testing.assert_close(loss(logits, labels),
                               LDAMLoss(counts)(logits, labels))
    loss.set_class_counts([1, 1, 1, 1, 1])  # balanced: equal margins
    assert torch.allclose(loss.margins, torch.full((5, ), 0.5))


def test_bad_counts_are_rejected(batch):
    logits, labels, _, _ = batch
    with pytest.raises(ValueError, match='need the training class counts'):
        LDAMLoss(cls_num_list=None)
    with pytest.raises(ValueError, match=r'class indices \[1\] have 0'):
        LDAMLoss([10, 0, 3])
    with pytest.raises(ValueError, match='negative'):
        LDAMLoss([10, -2, 3])
    with pytest.raises(ValueError, match='integers'):
        LDAMLoss([10, 2.5, 3])
    with pytest.raises(ValueError, match="cls_num_list must be"):
        LDAMLoss('balanced')
    with pytest.raises(ValueError, match='has 3 entries but cls_score has 5'):
        LDAMLoss([10, 5, 3])(logits, labels)
    with pytest.raises(ValueError, match='max_m and s must be > 0'):
        LDAMLoss([1, 2], s=0)
