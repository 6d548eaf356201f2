"""The fused hard-label path's per-class table (ClassTermTable): it is
reused across calls and rebuilt whenever what it was built from changes;
labels are range-checked by its gather on the CPU."""
import pytest
import torch

from lmfloss_mm.models.losses import LDAMLoss, LMFLoss, SoftmaxFocalLoss

COUNTS = [900, 400, 120, 60, 25, 9, 4]


def batch(num_classes=7, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(10, num_classes, generator=g, dtype=dtype) * 2
    labels = torch.randint(0, num_classes, (10, ), generator=g)
    return logits, labels


def value_and_grad(loss, logits, labels, **kwargs):
    z = logits.clone().requires_grad_()
    value = loss(z, labels, **kwargs)
    value.backward(torch.linspace(0.5, 1.5, value.numel()).view_as(value))
    return value.detach(), z.grad


def assert_same_as_fresh(loss, fresh, logits, labels):
    """``loss`` (used before, then changed) computes what a newly built
    loss with the new settings computes."""
    for kwargs in (dict(), dict(reduction_override='none')):
        value, grad = value_and_grad(loss, logits, labels, **kwargs)
        expected, expected_grad = value_and_grad(fresh, logits, labels,
                                                 **kwargs)
        torch.testing.assert_close(value, expected, rtol=0, atol=0)
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=0)


def test_the_table_is_built_once_and_reused():
    loss = LMFLoss(COUNTS)
    logits, labels = batch()
    loss(logits, labels)
    table = loss._term_table
    loss(logits, labels)
    loss(logits * 2, labels.flip(0), reduction_override='none')
    assert loss._term_table is table


@pytest.mark.parametrize('name,value', [('gamma', 2.5), ('s', 10.0),
                                        ('ldam_weight', 0.5),
                                        ('focal_weight', 3.0),
                                        ('normalize_class_weight', False),
                                        ('focal_normalize_class_weight',
                                         True)])
def test_a_changed_hyper_parameter_rebuilds_the_table(name, value):
    loss = LMFLoss(COUNTS)
    logits, labels = batch()
    before = loss(logits, labels)
    setattr(loss, name, value)
    fresh = LMFLoss(COUNTS, **{name: value})
    assert_same_as_fresh(loss, fresh, logits, labels)
    assert not torch.equal(loss(logits, labels), before)


def test_new_class_weights_and_counts_rebuild_the_table():
    logits, labels = batch()
    loss = LMFLoss(COUNTS)
    loss(logits, labels)
    weights = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    loss.set_class_weight(weights)
    assert_same_as_fresh(loss, LMFLoss(COUNTS, class_weight=weights), logits,
                         labels)
    counts = [5, 10, 20, 40, 80, 160, 320]
    loss = LDAMLoss(COUNTS)
    loss(logits, labels)
    loss.set_class_counts(counts)
    assert_same_as_fresh(loss, LDAMLoss(counts), logits, labels)


def test_class_weights_changed_in_place_rebuild_the_table():
    logits, labels = batch()
    loss = SoftmaxFocalLoss(1.5, class_weight=[1.0] * 7)
    loss(logits, labels)
    loss.class_weight.mul_(3.0).add_(torch.arange(7.0))
    fresh = SoftmaxFocalLoss(1.5, class_weight=(3.0 + torch.arange(
        7.0)).tolist())
    assert_same_as_fresh(loss, fresh, logits, labels)


def test_dtype_and_number_of_classes_rebuild_the_table():
    loss = SoftmaxFocalLoss(1.5)  # no per-class tensors of its own
    logits, labels = batch(7)
    loss(logits, labels)
    value, _ = value_and_grad(loss, logits.double(), labels)
    assert value.dtype == torch.float64
    logits, labels = batch(40)
    assert_same_as_fresh(loss, SoftmaxFocalLoss(1.5), logits, labels)
    assert loss._term_table.num_classes == 40


def test_inference_mode_first_then_training():
    """A table built under inference mode (a validation loop before the
    first training step) still serves a training step with gradients."""
    loss = LMFLoss(COUNTS)
    logits, labels = batch()
    with torch.inference_mode():
        loss(logits, labels)
    assert_same_as_fresh(loss, LMFLoss(COUNTS), logits, labels)


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(reduction_override='none'),
    dict(weight=torch.ones(10)),
    dict(reduction_override='sum'),
])
@pytest.mark.parametrize('bad', [7, -1])
def test_out_of_range_labels_raise_the_named_error(bad, kwargs):
    """On the CPU the range is checked by the gather of the per-class
    table; its IndexError becomes the same ValueError the other losses
    raise, on every reduction path."""
    logits, labels = batch()
    labels[3] = bad
    for loss in (LMFLoss(COUNTS), LDAMLoss(COUNTS), SoftmaxFocalLoss(2.0)):
        with pytest.raises(ValueError,
                           match=rf'labels \[{bad}\] are out of range for 7 '
                           r'classes \(valid: 0..6\)'):
            loss(logits, labels, **kwargs)


def test_a_batch_of_zero_weight_classes_gives_zero_not_nan():
    """The batch mean of the class weights is clamped before dividing."""
    loss = LMFLoss(COUNTS, class_weight=[0.0] * 3 + [1.0] * 4)
    logits, labels = batch()
    labels = labels % 3
    value, grad = value_and_grad(loss, logits, labels)
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    # the focal term is not normalised and its weights are 0 too
    assert value.item() == 0.0 and not grad.any()
