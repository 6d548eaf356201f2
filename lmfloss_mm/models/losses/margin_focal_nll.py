"""One fused kernel for hard labels: LDAM and focal terms with analytic
gradients.

Composing the losses from PyTorch operators records some twenty autograd
nodes per call; for the small batches of medical datasets that dispatch
overhead, not arithmetic, dominates (LMF took about 7x the time of
``F.cross_entropy`` at 32 x 7 on a CPU). This function computes the per-sample
losses and their gradient in closed form instead:

* LDAM: ``l = -log softmax(a)_y`` with ``a = s * (z - Delta_y e_y)``, so
  ``dl/dz = s * (softmax(a) - e_y)``;
* focal: ``f = -(1 - p_y) ** gamma * log p_y`` with ``p = softmax(z)``, so
  ``df/dz = f'(log p_y) * (e_y - p)`` where
  ``f'(u) = gamma * (1 - p_y) ** (gamma - 1) * p_y * u - (1 - p_y) ** gamma``.

Soft targets use the autograd composition in each loss's module; both paths
are checked against the same formulas and with ``gradcheck``.
"""
from typing import Optional

import torch
from torch.autograd.function import once_differentiable

from .utils import one_minus_p

#: Softmax entries this many nats below the row maximum are floored there,
#: from this many classes on (measured: below it the floor costs more time
#: than the denormals it avoids; tools/benchmark_losses.py).
_SOFTMAX_FLOOR = 80.0
_FLOOR_MIN_CLASSES = 128


class MarginFocalNLL(torch.autograd.Function):
    """Per-sample ``ldam_coef * LDAM + focal_coef * focal`` for hard labels.

    Args (of :meth:`apply`):
        logits (Tensor): ``(N, C)`` float32 or float64 logits.
        target (Tensor): ``(N,)`` int64 class indices.
        margin (Tensor): ``(N,)`` margin of each sample's class.
        s (float): LDAM logit scale.
        gamma (float): focal focusing parameter.
        ldam_coef (Tensor, optional): ``(N,)`` coefficients of the LDAM
            term; None skips the term.
        focal_coef (Tensor, optional): ``(N,)`` coefficients of the focal
            term; None skips the term.

    Returns:
        Tensor: ``(N,)`` losses.
    """

    @staticmethod
    def forward(ctx, logits, target, margin, s, gamma, ldam_coef, focal_coef):
        index = target[:, None]
        loss = shifted = focal_slope = None
        if ldam_coef is not None:
            shifted = logits * s  # a = s * (z - Delta_y e_y)
            shifted.scatter_add_(1, index, (margin * -s)[:, None])
            if shifted.size(1) >= _FLOOR_MIN_CLASSES:
                # s = 30 spreads the logits over hundreds of nats; exp() of
                # values below -87 takes the CPU's slow denormal path (10x
                # slower). Entries more than _SOFTMAX_FLOOR below the row
                # maximum weigh < e^-80 in the softmax: raising them to the
                # floor changes logsumexp and the softmax by less than float64
                # resolution, while a_y stays exact, so the loss is unchanged.
                a_y = shifted.gather(1, index).squeeze(1)
                shifted = torch.maximum(
                    shifted,
                    shifted.amax(dim=1, keepdim=True) - _SOFTMAX_FLOOR)
                log_p = a_y - torch.logsumexp(shifted, dim=1)
            else:  # few classes: two extra passes cost more than they save
                log_p = torch.log_softmax(shifted, dim=1).gather(
                    1, index).squeeze(1)
            loss = -ldam_coef * log_p
        if focal_coef is not None:
            log_p = torch.log_softmax(logits, dim=1).gather(1,
                                                            index).squeeze(1)
            if gamma == 0:
                focal = -log_p
                focal_slope = torch.full_like(log_p, -1.0)
            else:
                q = one_minus_p(log_p)
                modulation = q.pow(gamma)
                focal = -modulation * log_p
                focal_slope = (gamma * q.pow(gamma - 1) *
                               log_p.exp() * log_p - modulation)
            focal = focal_coef * focal
            loss = focal if loss is None else loss + focal
        # Backward recomputes softmax from the (floored) logits rather than
        # exp() of the log-probabilities, which would hit denormals.
        ctx.s = s
        ctx.save_for_backward(target, ldam_coef, focal_coef, shifted,
                              logits if focal_coef is not None else None,
                              focal_slope)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        (target, ldam_coef, focal_coef, shifted, logits,
         focal_slope) = ctx.saved_tensors
        # d loss / d z = g_ldam * (softmax(a) - e_y) - g_focal * (softmax(z)
        # - e_y), with per-sample factors g.
        grad = at_target = None
        if shifted is not None:
            g_ldam = grad_loss * ldam_coef * ctx.s
            grad = torch.softmax(shifted, dim=1).mul_(g_ldam[:, None])
            at_target = -g_ldam
        if logits is not None:
            g_focal = grad_loss * focal_coef * focal_slope
            p = torch.softmax(logits, dim=1)
            if grad is None:
                grad, at_target = p.mul_(-g_focal[:, None]), g_focal
            else:
                grad.addcmul_(p, g_focal[:, None], value=-1)
                at_target += g_focal
        grad.scatter_add_(1, target[:, None], at_target[:, None])
        return grad, None, None, None, None, None, None


def margin_focal_nll(logits: torch.Tensor,
                     target: torch.Tensor,
                     margin: Optional[torch.Tensor] = None,
                     s: float = 1.0,
                     gamma: float = 0.0,
                     ldam_coef: Optional[torch.Tensor] = None,
                     focal_coef: Optional[torch.Tensor] = None
                     ) -> torch.Tensor:
    """Functional form of :class:`MarginFocalNLL` (see there)."""
    if ldam_coef is None and focal_coef is None:
        raise ValueError('margin_focal_nll needs ldam_coef or focal_coef')
    if margin is None:
        margin = logits.new_zeros(logits.size(0))
    return MarginFocalNLL.apply(logits, target, margin, float(s),
                                float(gamma), ldam_coef, focal_coef)
