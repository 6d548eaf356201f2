"""The fused hard-label kernel and the losses built on it, against autograd
compositions written from the formulas (float64, sharing no code with
``lmfloss_mm``)."""
import pytest
import torch
import torch.nn.functional as F

from lmfloss_mm.models.losses import (LDAMLoss, LMFLoss, SoftmaxFocalLoss,
                                      WeightedCrossEntropyLoss)
from lmfloss_mm.models.losses.margin_focal_nll import margin_focal_nll

S = 30.0


def ldam_formula(z, q, delta, s):
    """``-sum_j q_j log softmax(s * (z - q * delta))_j`` per sample."""
    return -(q * F.log_softmax(s * (z - q * delta), dim=1)).sum(dim=1)


def focal_formula(z, q, gamma):
    """``-sum_j q_j (1 - p_j) ** gamma log p_j`` per sample."""
    log_p = F.log_softmax(z, dim=1)
    return -(q * (1 - log_p.exp())**gamma * log_p).sum(dim=1)


def kernel_case(num_classes, dtype=torch.float64, spread=4.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = 16
    logits = torch.randn(n, num_classes, generator=g, dtype=dtype) * spread
    labels = torch.randint(0, num_classes, (n, ), generator=g)
    delta = torch.rand(num_classes, generator=g, dtype=dtype) * 0.5
    coefs = torch.rand(2, n, generator=g, dtype=dtype) + 0.1
    upstream = torch.randn(n, generator=g, dtype=dtype)
    return logits, labels, delta, coefs, upstream


def value_and_grad(fn, logits, upstream):
    z = logits.detach().clone().requires_grad_()
    value = fn(z)
    (grad, ) = torch.autograd.grad(value, z, upstream)
    return value.detach(), grad


@pytest.mark.parametrize('num_classes', [7, 300])
@pytest.mark.parametrize('gamma', [0.0, 0.5, 1.5])
@pytest.mark.parametrize('terms', ['ldam', 'focal', 'both'])
def test_kernel_value_and_gradient_equal_the_formulas(terms, gamma,
                                                      num_classes):
    """Both code paths (few and many classes), with an upstream gradient
    that differs per sample. With 300 classes and logits spread over
    hundreds of nats the softmax floor is active, also for targets."""
    logits, labels, delta, (c_ldam, c_focal), upstream = kernel_case(
        num_classes)
    use_ldam, use_focal = terms in ('ldam', 'both'), terms in ('focal', 'both')
    q = F.one_hot(labels, num_classes).double()

    def kernel(z):
        return margin_focal_nll(z, labels, delta[labels], S, gamma,
                                c_ldam if use_ldam else None,
                                c_focal if use_focal else None)

    def formula(z):
        total = torch.zeros(len(labels), dtype=z.dtype)
        if use_ldam:
            total = total + c_ldam * ldam_formula(z, q, delta, S)
        if use_focal:
            total = total + c_focal * focal_formula(z, q, gamma)
        return total

    value, grad = value_and_grad(kernel, logits, upstream)
    expected_value, expected_grad = value_and_grad(formula, logits, upstream)
    torch.testing.assert_close(value, expected_value)
    torch.testing.assert_close(grad, expected_grad)
    if num_classes == 300 and use_ldam:
        shifted = S * (logits - q * delta)
        floored = shifted < shifted.amax(1, keepdim=True) - 70
        assert floored.any(dim=1).all()  # every row has floored entries
        assert floored.gather(1, labels[:, None]).any()  # and some targets


@pytest.mark.parametrize('num_classes', [7, 300])
def test_float32_kernel_is_exact_where_the_target_probability_underflows(
        num_classes):
    """The target logit 150 nats below the row maximum: p_y underflows in
    float32 (and, times s = 30, in float64), the loss stays exact."""
    logits, labels, delta, (c_ldam, c_focal), upstream = kernel_case(
        num_classes, spread=1.0)
    logits[torch.arange(16), labels] -= 150.0
    q = F.one_hot(labels, num_classes).double()

    def kernel(z):
        return margin_focal_nll(z, labels, delta[labels].to(z), S, 1.5,
                                c_ldam.to(z), c_focal.to(z))

    def formula(z):
        return (c_ldam * ldam_formula(z, q, delta, S) +
                c_focal * focal_formula(z, q, 1.5))

    logits = logits.float()
    value, grad = value_and_grad(kernel, logits, upstream.float())
    expected_value, expected_grad = value_and_grad(formula, logits.double(),
                                                   upstream)
    log_p_y = F.log_softmax(logits, dim=1).gather(1, labels[:, None])
    assert (log_p_y < -104).all()  # below float32's smallest subnormal
    torch.testing.assert_close(value, expected_value.float())
    # float32 rounding of s * z (|s * z| up to ~100) moves a softmax entry
    # by ~100 * 2^-24 relative
    torch.testing.assert_close(grad, expected_grad.float(), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize('num_classes', [7, 300])
@pytest.mark.parametrize('ldam,focal', [(True, True), (True, False),
                                        (False, True)])
def test_keeps_one_n_by_c_tensor_the_gradient(ldam, focal, num_classes):
    """One (N, C) tensor is kept for backward whatever the terms (the
    gradient for a unit upstream gradient), none without requires_grad."""
    logits, labels, delta, (c_ldam, c_focal), _ = kernel_case(num_classes)
    coefs = (c_ldam if ldam else None, c_focal if focal else None)
    loss = margin_focal_nll(logits.clone().requires_grad_(), labels,
                            delta[labels], S, 1.5, *coefs)
    saved = [t for t in loss.grad_fn.saved_tensors if t is not None]
    assert [tuple(t.shape) for t in saved] == [tuple(logits.shape)]
    z = logits.clone().requires_grad_()
    (expected, ) = torch.autograd.grad(
        margin_focal_nll(z, labels, delta[labels], S, 1.5, *coefs).sum(), z)
    torch.testing.assert_close(saved[0], expected, rtol=0, atol=0)


def test_backward_twice_with_retained_graph_gives_the_same_gradient():
    """The backward pass must not overwrite what the forward pass saved."""
    logits, labels, delta, (c_ldam, c_focal), _ = kernel_case(7)
    z = logits.requires_grad_()
    loss = margin_focal_nll(z, labels, delta[labels], S, 1.5, c_ldam,
                            c_focal).sum()
    (first, ) = torch.autograd.grad(loss, z, retain_graph=True)
    (second, ) = torch.autograd.grad(loss, z)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_double_backward_is_refused_with_the_alternative():
    logits, labels, delta, (c_ldam, c_focal), _ = kernel_case(7)
    z = logits.requires_grad_()
    loss = margin_focal_nll(z, labels, delta[labels], S, 1.5, c_ldam,
                            c_focal).sum()
    with pytest.raises(RuntimeError, match='no second derivative.*one-hot'):
        torch.autograd.grad(loss, z, create_graph=True)


def test_kernel_needs_a_term():
    logits, labels, *_ = kernel_case(7)
    with pytest.raises(ValueError, match='needs ldam_coef or focal_coef'):
        margin_focal_nll(logits, labels)


# -- the losses: hard and soft targets, class weights, reductions ----------
COUNTS_7 = [900, 400, 120, 60, 25, 9, 4]


def margins(counts, max_m=0.5):
    """LDAM margins, rounded to float32 as the losses store them."""
    n = torch.tensor(counts, dtype=torch.float64)
    return (max_m * (n.min() / n)**0.25).float().double()


def lmf_formula(z, q, counts, w, ldam_weight=1.5, focal_weight=1.0,
                gamma=1.5):
    """Per-sample LMF: LDAM divided by the batch mean of the target class
    weights, focal not (the official code's normalisation)."""
    delta = margins(counts)
    ldam = -(q * w * F.log_softmax(S * (z - q * delta), dim=1)).sum(dim=1)
    log_p = F.log_softmax(z, dim=1)
    focal = -(q * w * (1 - log_p.exp())**gamma * log_p).sum(dim=1)
    return (ldam_weight * ldam / (q @ w).mean() + focal_weight * focal)


#: 7 classes take the stacked few-class path, 40 the per-term many-class
#: path of the fused kernel
COUNTS = {7: COUNTS_7, 40: [1000 - 24 * j for j in range(40)]}

LOSSES = {
    # name: (builder (w, counts), per-sample formula (z, q, w, counts))
    'lmf': (lambda w, n: LMFLoss(n, class_weight=w),
            lambda z, q, w, n: lmf_formula(z, q, n, w)),
    'ldam': (lambda w, n: LDAMLoss(n, class_weight=w),
             lambda z, q, w, n: lmf_formula(z, q, n, w, 1.0, 0.0)),
    'focal': (lambda w, n: SoftmaxFocalLoss(1.5, class_weight=w,
                                            cls_num_list=n),
              lambda z, q, w, n: lmf_formula(z, q, n, w, 0.0, 1.0)),
    # weighted cross-entropy, normalised (PyTorch's weighted mean)
    'weighted_ce': (
        lambda w, n: WeightedCrossEntropyLoss(class_weight=w, cls_num_list=n),
        lambda z, q, w, n: lmf_formula(z, q, n, w, 0.0, 1.0, gamma=0.0) /
        (q @ w).mean()),
}
CLASS_WEIGHTS = {
    'none': None,
    'margins': 'margins',
    'list': 'list',
}


def class_weight_spec(name, num_classes):
    """The loss argument: None, 'margins', or a list of C floats."""
    if name == 'list':
        return [0.2 + 0.1 * j for j in range(num_classes)]
    return CLASS_WEIGHTS[name]


def class_weight_tensor(spec, counts):
    if spec is None:
        return torch.ones(len(counts), dtype=torch.float64)
    if spec == 'margins':
        return margins(counts)
    return torch.tensor(spec, dtype=torch.float32).double()


@pytest.mark.parametrize('num_classes', list(COUNTS))
@pytest.mark.parametrize('weight_name', list(CLASS_WEIGHTS))
@pytest.mark.parametrize('loss_name', list(LOSSES))
def test_losses_equal_the_formulas(loss_name, weight_name, num_classes):
    """Hard and soft targets; reductions 'none', 'mean' (with and without
    avg_factor, with sample weights) and 'sum'; values and gradients; both
    paths of the fused kernel (few and many classes)."""
    build, loss_formula = LOSSES[loss_name]
    counts = COUNTS[num_classes]
    spec = class_weight_spec(weight_name, num_classes)
    loss, w = build(spec, counts), class_weight_tensor(spec, counts)

    def formula(z, q, w):
        return loss_formula(z, q, w, counts)

    g = torch.Generator().manual_seed(3)
    logits = torch.randn(12, num_classes, generator=g,
                         dtype=torch.float64) * 3
    labels = torch.randint(0, num_classes, (12, ), generator=g)
    soft = torch.softmax(torch.randn(12, num_classes, generator=g,
                                     dtype=torch.float64) * 3, dim=1)
    sample_weight = torch.rand(12, generator=g, dtype=torch.float64)
    reductions = [
        (dict(reduction_override='none'), lambda v: v),
        (dict(), lambda v: v.mean()),
        (dict(avg_factor=5.0), lambda v: v.sum() / 5.0),
        (dict(weight=sample_weight, avg_factor=12),
         lambda v: (v * sample_weight).sum() / 12),
        (dict(reduction_override='sum'), lambda v: v.sum()),
    ]
    for target, q in ((labels, F.one_hot(labels, num_classes).double()),
                      (soft, soft)):
        for kwargs, reduce in reductions:
            upstream = torch.randn(12 if kwargs.get(
                'reduction_override') == 'none' else (), generator=g,
                dtype=torch.float64)
            value, grad = value_and_grad(
                lambda z: loss(z, target, **kwargs), logits, upstream)
            expected_value, expected_grad = value_and_grad(
                lambda z: reduce(formula(z, q, w)), logits, upstream)
            torch.testing.assert_close(value, expected_value)
            torch.testing.assert_close(grad, expected_grad)
