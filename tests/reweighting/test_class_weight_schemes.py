"""The 'effective_number' and 'inverse_frequency' class-weight schemes and
ClassCountsLoss.set_class_weight."""
import pytest
import torch
from mmpretrain.registry import MODELS

from lmfloss_mm.models.losses.utils import (CLASS_WEIGHT_SCHEMES,
                                            class_weights_from_counts,
                                            effective_number_weights)

from .reference import cb_weights, inverse_weights

COUNTS = [500, 120, 40, 9, 3]


@pytest.mark.parametrize('beta', [0.9999, 0.999, 0.99, 0.5])
def test_effective_number_weights(beta):
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    weights = effective_number_weights(counts, beta)
    assert weights.dtype == torch.float32
    torch.testing.assert_close(weights.double(),
                               torch.tensor(cb_weights(COUNTS, beta),
                                            dtype=torch.float64))
    assert weights.sum().item() == pytest.approx(5, rel=1e-6)
    torch.testing.assert_close(
        class_weights_from_counts('effective_number', counts, beta=beta),
        weights)


def test_effective_number_edge_cases():
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    assert effective_number_weights(counts, 0.0).tolist() == [1.0] * 5
    # default beta is 0.9999 (Cui et al., LDAM-DRW)
    torch.testing.assert_close(
        class_weights_from_counts('effective_number', counts),
        effective_number_weights(counts, 0.9999))
    # large counts: beta^n underflows to 0, the weight stays finite
    big = effective_number_weights(torch.tensor([10.0**7, 1.0]), 0.9999)
    assert big.tolist() == pytest.approx([2 * 1e-4 / (1 + 1e-4),
                                          2 / (1 + 1e-4)], rel=1e-5)
    for beta in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r'beta must be in \[0, 1\)'):
            effective_number_weights(counts, beta)


def test_inverse_scheme():
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    torch.testing.assert_close(
        class_weights_from_counts('inverse_frequency', counts).double(),
        torch.tensor(inverse_weights(COUNTS), dtype=torch.float64))
    assert set(CLASS_WEIGHT_SCHEMES) == {
        'margins', 'bwcce', 'effective_number', 'inverse_frequency'}


@pytest.mark.parametrize('loss_type', ['LDAMLoss', 'SoftmaxFocalLoss',
                                       'LMFLoss'])
def test_existing_losses_accept_the_new_schemes(loss_type, batch):
    logits, labels, _, _ = batch
    loss = MODELS.build(dict(type=loss_type, cls_num_list=COUNTS,
                             class_weight='effective_number'))
    torch.testing.assert_close(loss.class_weight.double(),
                               torch.tensor(cb_weights(COUNTS, 0.9999),
                                            dtype=torch.float64))
    manual = MODELS.build(dict(type=loss_type, cls_num_list=COUNTS,
                               class_weight=cb_weights(COUNTS, 0.9999)))
    torch.testing.assert_close(loss(logits, labels), manual(logits, labels))


def test_set_class_weight_replaces_the_weights(batch):
    logits, labels, soft, _ = batch
    loss = MODELS.build(dict(type='LDAMLoss', cls_num_list=COUNTS,
                             class_weight='margins'))
    weights = [0.2, 0.4, 0.8, 1.6, 2.0]
    explicit = MODELS.build(dict(type='LDAMLoss', cls_num_list=COUNTS,
                                 class_weight=weights))
    unweighted = MODELS.build(dict(type='LDAMLoss', cls_num_list=COUNTS))
    assert not torch.allclose(loss(logits, labels),
                              explicit(logits, labels))
    loss.set_class_weight(weights)
    assert loss.class_weight.dtype == torch.float32
    for target in (labels, soft):
        torch.testing.assert_close(loss(logits, target),
                                   explicit(logits, target))
    # new counts do not bring the configured 'margins' scheme back
    loss.set_class_counts([5, 4, 3, 2, 1])
    torch.testing.assert_close(loss.class_weight, torch.tensor(weights))
    loss.set_class_counts(COUNTS)
    loss.set_class_weight(None)
    assert loss.class_weight is None
    torch.testing.assert_close(loss(logits, labels),
                               unweighted(logits, labels))
    loss.set_class_weight(torch.tensor(weights, dtype=torch.float64))
    torch.testing.assert_close(loss(logits, labels),
                               explicit(logits, labels))
    assert loss.state_dict() == {}


def test_set_class_weight_validates():
    loss = MODELS.build(dict(type='LDAMLoss', cls_num_list=COUNTS))
    with pytest.raises(ValueError, match='got 3 class weights for 5'):
        loss.set_class_weight([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match='finite non-negative'):
        loss.set_class_weight([1.0, -2.0, 3.0, 1.0, 1.0])
    with pytest.raises(ValueError, match='finite non-negative'):
        loss.set_class_weight([1.0, float('nan'), 3.0, 1.0, 1.0])


def test_set_class_weight_keeps_the_buffers_device():
    """The new buffer goes where the loss's buffers are (here the 'meta'
    device stands in for a GPU); a loss without buffers uses `device`."""
    loss = MODELS.build(dict(type='LDAMLoss', cls_num_list=COUNTS)).to('meta')
    loss.set_class_weight([1.0] * 5, device='cpu')
    assert loss.class_weight.device.type == 'meta'
    bare = MODELS.build(dict(type='SoftmaxFocalLoss'))
    assert next(bare.buffers(), None) is None
    bare.set_class_weight([1.0, 2.0], device='meta')
    assert bare.class_weight.device.type == 'meta'
    bare = MODELS.build(dict(type='SoftmaxFocalLoss'))
    bare.set_class_weight([1.0, 2.0])
    assert bare.class_weight.device.type == 'cpu'
