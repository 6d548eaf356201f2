"""One fused kernel for hard labels: LDAM and focal terms with analytic
gradients and one softmax per term.

Composing the losses from PyTorch operators records some twenty autograd
nodes per call and computes every softmax twice (forward, and again in the
backward of ``log_softmax``). :class:`MarginFocalNLL` computes the softmax
of every term once, in one ``(N, T, C)`` call for the ``T`` terms, and the
gradient in closed form from it, so the backward pass is a single
multiplication. The per-sample arithmetic of the terms (focal factor and
slope) runs once on ``(N, T, 1)`` tensors for all terms.

Soft targets use the autograd composition in each loss's module; both paths
are checked against the same formulas and with ``gradcheck``.
"""
import functools
import math
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch

#: From this many classes on, the time goes into passes over memory and into
#: ``exp()`` of far-below-maximum logits rather than into operator calls
#: (LMF, 256 samples, CPU: the many-class path takes 1.2x the time of the
#: few-class path at 24 classes, 0.8x at 32, 0.3x at 128).
_MANY_CLASSES = 32
#: With many classes, logits more than this many nats below the row maximum
#: are raised to that floor (see :func:`_softmax_per_term`).
_SOFTMAX_FLOOR = 70.0


class LossTerms(NamedTuple):
    """The constants of ``T`` loss terms: ``(1, T, 1)`` tensors on the
    device and in the dtype of the logits, and flags (see
    :func:`loss_terms`)."""
    #: logit scale ``s_t`` of each term (LDAM: ``s``; focal: 1)
    scale: torch.Tensor
    #: the same as floats
    scales: Tuple[float, ...]
    #: ``-s_t``
    minus_scale: torch.Tensor
    #: focusing parameter ``gamma_t`` (LDAM: 0)
    gamma: torch.Tensor
    #: ``gamma_t - 1`` where ``gamma_t > 0``, else 0 (its factor is 0 then)
    gamma_minus_one: torch.Tensor
    #: ``-1`` per term: the one-hot target taken off a softmax
    minus_one: torch.Tensor
    #: per term: its target logit is shifted (a margin)
    shifted: Tuple[bool, ...]
    #: per term: with many classes, floor its logits (``s_t > 1``, see
    #: :func:`_softmax_per_term`)
    floor: Tuple[bool, ...]
    #: some ``gamma_t > 0``: compute the focal factor and slope
    focal: bool
    #: some ``0 < gamma_t < 1``: clamp ``1 - p_y`` away from 0 first
    clamp: bool
    #: the number of terms ``T``
    count: int


@functools.lru_cache(maxsize=64)
def loss_terms(scales: Tuple[float, ...], gammas: Tuple[float, ...],
               shifted: Tuple[bool, ...], dtype: torch.dtype,
               device: torch.device) -> LossTerms:
    """:class:`LossTerms` for terms with logit scales ``scales``, focusing
    parameters ``gammas`` and target-logit shifts where ``shifted``
    (cached: a call costs no tensor operations)."""
    if not len(scales) == len(gammas) == len(shifted) or not scales:
        raise ValueError('loss_terms needs one scale, gamma and shift flag '
                         f'per term, got scales={scales}, gammas={gammas}, '
                         f'shifted={shifted}')

    def column(values):
        return torch.tensor(values, dtype=dtype, device=device)[None, :,
                                                                None]

    with torch.inference_mode(False):  # usable outside inference mode
        return LossTerms(
            scale=column(scales),
            scales=tuple(scales),
            minus_scale=column([-s for s in scales]),
            gamma=column(gammas),
            gamma_minus_one=column([g - 1 if g > 0 else 0.0 for g in gammas]),
            minus_one=column([-1.0] * len(scales)),
            shifted=tuple(shifted),
            floor=tuple(s > 1 for s in scales),
            focal=any(g > 0 for g in gammas),
            clamp=any(0 < g < 1 for g in gammas),
            count=len(scales))


def _softmax_stacked(logits: torch.Tensor, index: torch.Tensor,
                     shift: Optional[torch.Tensor], terms: LossTerms
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Few classes: the ``T`` terms' softmaxes in one ``(N, T, C)`` call
    (``log_softmax``, ``gather``, ``exp``) and ``(N, T, 1)`` ``log p_y``."""
    shifted = logits.unsqueeze(1) * terms.scale  # a_t = s_t z + m_t e_y
    if shift is not None:
        shifted.scatter_add_(2, index, shift)
    log_p = torch.log_softmax(shifted, dim=2)
    log_p_y = log_p.gather(2, index)
    return log_p.exp_(), log_p_y


def _softmax_per_term(logits: torch.Tensor, index: torch.Tensor,
                      shift: Optional[torch.Tensor], terms: LossTerms
                      ) -> Tuple[List[torch.Tensor], torch.Tensor]:
    """Many classes: one fused ``softmax`` (one ``exp()`` per entry) per
    term, ``(N, C)`` each, and ``(N, T, 1)`` ``log p_y``; ``index`` is the
    ``(N, 1)`` targets.

    ``log p_y`` comes from the softmax without a second pass of ``exp()``:

    * ``log p_y = log(p_y)`` where ``p_y`` is a normal float (as exact as
      ``log_softmax``); where it is not (the target logit some 87 nats
      below the row maximum in float32) ``log p_y = (a_y - max a) +
      log(max p)``, exact and finite: the largest entry of a softmax row is
      ``1 / sum_j exp(a_j - max a)``. On the CPU the second form is
      computed only for batches that need it (one check instead of two
      passes over the logits); on a GPU always (the check would wait for
      the device);
    * for terms whose logits are scaled (``s_t > 1``), logits more than
      :data:`_SOFTMAX_FLOOR` nats below their row maximum are first raised
      to that floor, *in place*: ``s = 30`` spreads LDAM's logits over
      hundreds of nats, and ``exp()`` of values below -87 takes the CPU's
      slow denormal path (10x slower). A floored entry weighs less than
      ``e^-70`` in the softmax, so the softmax changes by less than float64
      resolution, and every entry stays above ``e^-70 / C``, a normal
      float32 number: ``log p_y`` is the logarithm of the floored ``p_y``
      minus what the floor added to the target logit, exact.
    """
    shifts = shift.unbind(1) if shift is not None else ()
    probs, log_probs = [], []
    for t in range(terms.count):
        a = logits
        if terms.floor[t] or terms.shifted[t]:
            a = logits * terms.scales[t]  # a Python float: the fast path
            if terms.shifted[t]:
                a.scatter_add_(1, index, shifts[t])
        if terms.floor[t]:
            row_floor = a.amax(dim=1, keepdim=True).sub_(_SOFTMAX_FLOOR)
            raised = (row_floor - a.gather(1, index)).clamp_min_(0)
            p = torch.softmax(torch.maximum(a, row_floor, out=a), dim=1)
            log_p_y = p.gather(1, index).log_().sub_(raised)
        else:
            p = torch.softmax(a, dim=1)
            log_p_y = p.gather(1, index).log_()
            if a.device.type != 'cpu' or bool(
                    (log_p_y < math.log(torch.finfo(a.dtype).tiny)).any()):
                log_p_y = (a.gather(1, index) -
                           a.amax(dim=1, keepdim=True)).add_(
                               p.amax(dim=1, keepdim=True).log_())
        probs.append(p)
        log_probs.append(log_p_y)
    return probs, (torch.stack(log_probs, 1) if terms.count > 1 else
                   log_probs[0].unsqueeze(1))


def _focal_and_slope(log_p: torch.Tensor, terms: LossTerms
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``f(u) = (1 - e^u) ** gamma * u`` (minus the loss) and ``-f'(u)`` at
    ``u = log p_y``, per term: ``-f'(u) = (1 - p) ** gamma - gamma * (1 - p)
    ** (gamma - 1) * p * u``; for ``gamma = 0`` exactly ``u`` and 1."""
    q = torch.expm1(log_p).neg_()
    if terms.clamp:  # (1 - p) ** (gamma - 1) finite at p = 1
        q.clamp_min_(torch.finfo(q.dtype).tiny)
    modulation = q.pow(terms.gamma)
    slope_part = q.pow_(terms.gamma_minus_one).mul_(log_p.exp()).mul_(
        terms.gamma)
    minus_slope = torch.addcmul(modulation, slope_part, log_p, value=-1)
    return modulation.mul_(log_p), minus_slope


def _gradient_stacked(p: torch.Tensor, index: torch.Tensor,
                      weight: torch.Tensor, terms: LossTerms) -> torch.Tensor:
    """``sum_t u_t (p_t - e_y)`` from the ``(N, T, C)`` softmaxes ``p``
    (overwritten) and ``(N, T, 1)`` weights ``u``."""
    p.scatter_add_(2, index, terms.minus_one.expand(p.size(0), -1, 1))
    grad = p.mul_(weight)
    return grad.squeeze(1) if terms.count == 1 else grad.sum(1)


def _gradient_per_term(probs: List[torch.Tensor], index: torch.Tensor,
                       weight: torch.Tensor) -> torch.Tensor:
    """``sum_t u_t (p_t - e_y)`` from ``T`` softmaxes ``(N, C)`` (the first
    is overwritten), ``(N, 1)`` targets and ``(N, T, 1)`` weights ``u``."""
    weights = weight.unbind(1)
    grad = probs[0].mul_(weights[0])
    for p, term_weight in zip(probs[1:], weights[1:]):
        grad.addcmul_(p, term_weight)
    return grad.scatter_add_(1, index, weight.sum(1).neg_())


class MarginFocalNLL(torch.autograd.Function):
    r"""Per-sample ``sum_t c_t * l_t`` of ``T`` terms for hard labels.

    Term ``t`` has a logit scale ``s_t``, a target-logit shift ``m_t`` (per
    sample) and a focusing parameter ``gamma_t``. With ``e_y`` the one-hot
    target, ``a_t = s_t z + m_t e_y`` and ``p_t = softmax(a_t)``:

    .. math::

        l_t = -(1 - p_{t,y})^{\gamma_t} \log p_{t,y}, \qquad
        \frac{\partial l_t}{\partial z} = -s_t\,f_t'(\log p_{t,y})\,
            (p_t - e_y)

    with ``f_t(u) = (1 - e^u) ** gamma_t * u``. LDAM is ``s_t = s``,
    ``m_t = -s Delta_y``, ``gamma_t = 0`` (then ``-f' = 1``); the focal
    loss ``s_t = 1``, ``m_t = 0``, ``gamma_t = gamma``. All terms have the
    form ``slope * (softmax - e_y)``, so for an upstream gradient ``g`` the
    backward pass returns ``g * sum_t c_t s_t (-f_t') (p_t - e_y)``.

    The forward pass computes the ``T`` softmaxes in one call (one call per
    term from :data:`_MANY_CLASSES` classes on) and, when the logits need a
    gradient, combines the terms into the gradient for
    ``g = 1`` (one ``(N, C)`` tensor is kept, nothing else of that size);
    the backward pass is one multiplication by ``g``. The backward pass is
    not itself differentiable: a double backward raises ``RuntimeError``
    (one-hot soft targets give the same loss through autograd, with higher
    derivatives).

    Args (of :meth:`apply`):
        logits (Tensor): ``(N, C)`` float32 or float64 logits ``z``.
        target (Tensor): ``(N,)`` int64 class indices ``y``.
        shift (Tensor, optional): ``(N, T, 1)`` target-logit shifts ``m_t``
            (after scaling); None for none.
        minus_coef (Tensor): ``(N, T, 1)`` coefficients ``-c_t``, negated
            (saves a negation per call).
        terms (LossTerms): the terms' constants, from :func:`loss_terms`.
        total (bool): return the sum of the ``(N,)`` losses (a reduction
            folded into the coefficients, see :func:`~.utils.total_scale`:
            no separate reduction node in the graph).

    Returns:
        Tensor: ``(N,)`` losses, or their sum when ``total``.
    """

    @staticmethod
    def forward(ctx, logits, target, shift, minus_coef, terms, total):
        ctx.total = total
        num, num_terms = logits.size(0), terms.count
        many = logits.size(1) >= _MANY_CLASSES
        index = target.view(num, 1) if many else \
            target.view(num, 1, 1).expand(num, num_terms, 1)
        p, log_p_y = (_softmax_per_term if many else _softmax_stacked)(
            logits, index, shift, terms)
        if terms.focal:
            minus_loss, minus_slope = _focal_and_slope(log_p_y, terms)
        else:
            minus_loss, minus_slope = log_p_y, None
        if ctx.needs_input_grad[0]:
            # u_t = c_t s_t (-f_t'); gradient sum_t u_t (p_t - e_y)
            weight = (minus_coef * terms.minus_scale if minus_slope is None
                      else minus_slope.mul_(minus_coef).mul_(
                          terms.minus_scale))
            ctx.save_for_backward(
                _gradient_per_term(p, index, weight) if many else
                _gradient_stacked(p, index, weight, terms))
        weighted = minus_loss.mul_(minus_coef)
        return weighted.sum() if total else weighted.sum((1, 2))

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
        return grad, None, None, None, None, None


def margin_focal_nll(logits: torch.Tensor,
                     target: torch.Tensor,
                     margin: Optional[torch.Tensor] = None,
                     s: float = 1.0,
                     gamma: float = 0.0,
                     ldam_coef: Optional[torch.Tensor] = None,
                     focal_coef: Optional[torch.Tensor] = None,
                     total: bool = False) -> torch.Tensor:
    """Per-sample ``ldam_coef * LDAM + focal_coef * focal`` for hard labels
    (:class:`MarginFocalNLL` with an LDAM and a focal term).

    Args:
        logits (Tensor): ``(N, C)`` logits ``z``.
        target (Tensor): ``(N,)`` int64 class indices.
        margin (Tensor, optional): ``(N,)`` margin ``Delta_y`` of each
            sample's class (LDAM term); None for none.
        s (float): LDAM logit scale.
        gamma (float): focal focusing parameter.
        ldam_coef (Tensor, optional): ``(N,)`` coefficients of the LDAM
            term ``-log softmax(s * (z - Delta_y e_y))_y``; None skips it.
        focal_coef (Tensor, optional): ``(N,)`` coefficients of the focal
            term ``-(1 - p_y) ** gamma log p_y``; None skips it.
        total (bool): return the sum of the losses.

    Returns:
        Tensor: ``(N,)`` losses, or their sum when ``total``.
    """
    scales, gammas, shifts, coefs = [], [], [], []
    if ldam_coef is not None:
        scales.append(float(s))
        gammas.append(0.0)
        shifts.append(None if margin is None else margin * -float(s))
        coefs.append(ldam_coef)
    if focal_coef is not None:
        scales.append(1.0)
        gammas.append(float(gamma))
        shifts.append(None)
        coefs.append(focal_coef)
    if not coefs:
        raise ValueError('margin_focal_nll needs ldam_coef or focal_coef')
    shifted = tuple(m is not None for m in shifts)
    shift = torch.stack([
        logits.new_zeros(target.size(0)) if m is None else m for m in shifts
    ], 1)[..., None] if any(shifted) else None
    minus_coef = torch.stack(coefs, 1)[..., None].neg_()
    terms = loss_terms(tuple(scales), tuple(gammas), shifted, logits.dtype,
                       logits.device)
    return MarginFocalNLL.apply(logits, target, shift, minus_coef, terms,
                                bool(total))
