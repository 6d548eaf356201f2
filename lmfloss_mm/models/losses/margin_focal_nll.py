"""One fused kernel for hard labels: LDAM and focal terms with analytic
gradients and one softmax per term.

Composing the losses from PyTorch operators records some twenty autograd
nodes per call and computes every softmax twice (forward, and again in the
backward of ``log_softmax``). :class:`MarginFocalNLL` computes each term's
softmax once in the forward pass and the gradient in closed form from it, so
the backward pass is a single multiplication.

Soft targets use the autograd composition in each loss's module; both paths
are checked against the same formulas and with ``gradcheck``.
"""
from typing import Optional, Tuple

import torch

from .utils import one_minus_p

#: From this many classes on, the time goes into passes over memory and into
#: ``exp()`` of far-below-maximum logits rather than into operator calls
#: (LMF, 256 samples, CPU: the many-class path takes 1.2x the time of the
#: few-class path at 24 classes, 0.8x at 32, 0.3x at 128).
_MANY_CLASSES = 32
#: With many classes, LDAM's logits more than this many nats below the row
#: maximum are raised to that floor (see :func:`_softmax_and_log_prob`).
_SOFTMAX_FLOOR = 70.0


def _softmax_and_log_prob(logits: torch.Tensor, index: torch.Tensor,
                          floor: bool = False
                          ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``softmax`` of ``(N, C)`` logits and its exact logarithm at ``index``.

    Below :data:`_MANY_CLASSES` classes three operator calls suffice:
    ``log_softmax``, ``gather``, ``exp``. From there on the softmax comes
    from the fused ``softmax`` kernel (one ``exp()`` per entry, the fast
    one), and ``log p_y`` from it without a second pass of ``exp()``:

    * without ``floor``, ``log p_y = (z_y - max z) + log(max p)``: the
      largest entry of a softmax row is ``1 / sum_j exp(z_j - max z)``, so
      this is as exact as ``log_softmax`` and finite where ``p_y``
      underflows;
    * with ``floor``, logits more than :data:`_SOFTMAX_FLOOR` nats below
      their row maximum are first raised to that floor, *in place*. ``s =
      30`` spreads LDAM's logits over hundreds of nats, and ``exp()`` of
      values below -87 takes the CPU's slow denormal path (10x slower). A
      floored entry weighs less than ``e^-70`` in the softmax, so the softmax
      changes by less than float64 resolution, and every entry stays above
      ``e^-70 / C``, a normal float32 number: ``log p_y`` is the logarithm of
      the floored ``p_y`` minus what the floor added to ``z_y``, exact.

    Args:
        logits (Tensor): ``(N, C)`` logits.
        index (Tensor): ``(N, 1)`` target indices.
        floor (bool): floor the logits as above (many classes only).

    Returns:
        tuple[Tensor, Tensor]: ``(N, C)`` softmax ``p`` and ``(N, 1)``
        ``log p_y``.
    """
    if logits.size(1) < _MANY_CLASSES:
        log_p = torch.log_softmax(logits, dim=1)
        return log_p.exp(), log_p.gather(1, index)
    row_max = logits.amax(dim=1, keepdim=True)
    if floor:
        row_floor = row_max.sub_(_SOFTMAX_FLOOR)
        raised = (row_floor - logits.gather(1, index)).clamp_min_(0)
        p = torch.softmax(torch.maximum(logits, row_floor, out=logits), dim=1)
        return p, p.gather(1, index).log_().sub_(raised)
    log_p_y = logits.gather(1, index) - row_max
    p = torch.softmax(logits, dim=1)
    return p, log_p_y.add_(p.amax(dim=1, keepdim=True).log_())


def _focal_and_slope(log_p: torch.Tensor, gamma: float
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``f(u) = -(1 - e^u) ** gamma * u`` and ``-f'(u)`` at ``u = log p``.

    ``-f'(u) = (1 - p) ** gamma - gamma * (1 - p) ** (gamma - 1) * p * u``.
    """
    if gamma == 0:
        return -log_p, torch.ones_like(log_p)
    q = one_minus_p(log_p)
    modulation = q.pow(gamma)
    focal = -modulation * log_p
    minus_slope = torch.addcmul(modulation,
                                q.pow(gamma - 1) * log_p.exp(), log_p,
                                value=-gamma)
    return focal, minus_slope


def _gradient(index: torch.Tensor, terms) -> torch.Tensor:
    """``sum_t slope_t * (softmax_t - e_y)``: the ``(N, C)`` gradient of the
    per-sample losses for a unit upstream gradient, written into the first
    term's softmax (each softmax is used here for the last time).

    Args:
        index (Tensor): ``(N, 1)`` target indices ``y``.
        terms: ``(softmax, slope)`` pairs, ``(N, C)`` and ``(N, 1)``; a pair
            whose softmax is None is skipped.
    """
    grad = slope = None
    for p, term_slope in terms:
        if p is None:
            continue
        if grad is None:
            grad, slope = p.mul_(term_slope), term_slope
        else:
            grad.addcmul_(p, term_slope)
            slope = slope + term_slope
    return grad.scatter_add_(1, index, -slope)


class MarginFocalNLL(torch.autograd.Function):
    r"""Per-sample ``c_LDAM * LDAM + c_focal * focal`` for hard labels.

    With ``e_y`` the one-hot target:

    * LDAM: ``l = -log softmax(a)_y`` with ``a = s * (z - Delta_y e_y)``, so
      ``dl/dz = s * (softmax(a) - e_y)``;
    * focal: ``f = -(1 - p_y) ** gamma * log p_y`` with ``p = softmax(z)``,
      so ``df/dz = -f'(log p_y) * (softmax(z) - e_y)`` with
      ``-f'(u) = (1 - p_y) ** gamma - gamma * (1 - p_y) ** (gamma - 1) * p_y
      * u``.

    Both terms have the form ``slope * (softmax - e_y)``, so for an upstream
    gradient ``g`` the backward pass returns

    .. math::

        \frac{\partial L}{\partial z} =
            g\,c_{LDAM}\,s\,(\mathrm{softmax}(a) - e_y)
          - g\,c_{focal}\,f'(\log p_y)\,(\mathrm{softmax}(z) - e_y).

    The forward pass computes each softmax once and, when the logits need a
    gradient, combines the terms into the gradient for ``g = 1``, written
    into the first term's softmax (one ``(N, C)`` tensor is kept, nothing
    else of that size); the backward pass is one multiplication by ``g``.
    The backward pass is not itself differentiable: a double backward raises
    ``RuntimeError`` (one-hot soft targets give the same loss through
    autograd, with higher derivatives).

    Args (of :meth:`apply`):
        logits (Tensor): ``(N, C)`` float32 or float64 logits ``z``.
        target (Tensor): ``(N,)`` int64 class indices ``y``.
        margin (Tensor): ``(N,)`` margin ``Delta_y`` of each sample's class.
        s (float): LDAM logit scale.
        gamma (float): focal focusing parameter.
        ldam_coef (Tensor, optional): ``(N,)`` coefficients ``c_LDAM`` of
            the LDAM term; None skips the term.
        focal_coef (Tensor, optional): ``(N,)`` coefficients ``c_focal`` of
            the focal term; None skips the term.
        total (bool): return the sum of the ``(N,)`` losses (a reduction
            folded into the coefficients, see :func:`~.utils.total_scale`:
            no separate reduction node in the graph).

    Returns:
        Tensor: ``(N,)`` losses, or their sum when ``total``.
    """

    @staticmethod
    def forward(ctx, logits, target, margin, s, gamma, ldam_coef, focal_coef,
                total):
        ctx.total = total
        index = target[:, None]
        loss = p_ldam = ldam_slope = p_focal = focal_slope = None
        if ldam_coef is not None:
            shifted = logits * s  # a = s * (z - Delta_y e_y)
            shifted.scatter_add_(1, index, margin[:, None] * -s)
            p_ldam, log_p_y = _softmax_and_log_prob(shifted, index,
                                                    floor=True)
            ldam_coef = ldam_coef[:, None]
            loss = ldam_coef * -log_p_y
            ldam_slope = ldam_coef * s
        if focal_coef is not None:
            p_focal, log_p_y = _softmax_and_log_prob(logits, index)
            focal, minus_slope = _focal_and_slope(log_p_y, gamma)
            focal_coef = focal_coef[:, None]
            loss = focal_coef * focal if loss is None else torch.addcmul(
                loss, focal_coef, focal)
            focal_slope = focal_coef * minus_slope
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(
                _gradient(index, ((p_ldam, ldam_slope),
                                  (p_focal, focal_slope))))
        return loss.sum() if total else loss.squeeze(1)

    @staticmethod
    def backward(ctx, grad_loss):
        if torch.is_grad_enabled():
            raise RuntimeError(
                'The hard-label kernel of the LDAM, focal, LMF and '
                'logit-adjusted losses (MarginFocalNLL) has no second '
                'derivative, so backward(create_graph=True) and '
                'torch.autograd.grad(..., create_graph=True) are not '
                'supported through it. For higher-order gradients pass the '
                'labels as one-hot soft targets '
                '(F.one_hot(labels, C).float()), which give the same loss '
                'through autograd.')
        (grad, ) = ctx.saved_tensors
        grad = grad * (grad_loss if ctx.total else grad_loss[:, None])
        return grad, None, None, None, None, None, None, None


def margin_focal_nll(logits: torch.Tensor,
                     target: torch.Tensor,
                     margin: Optional[torch.Tensor] = None,
                     s: float = 1.0,
                     gamma: float = 0.0,
                     ldam_coef: Optional[torch.Tensor] = None,
                     focal_coef: Optional[torch.Tensor] = None,
                     total: bool = False) -> torch.Tensor:
    """Functional form of :class:`MarginFocalNLL` (see there)."""
    if ldam_coef is None and focal_coef is None:
        raise ValueError('margin_focal_nll needs ldam_coef or focal_coef')
    if margin is None:
        margin = logits.new_zeros(logits.size(0))
    return MarginFocalNLL.apply(logits, target, margin, float(s),
                                float(gamma), ldam_coef, focal_coef,
                                bool(total))
