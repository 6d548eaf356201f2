"""Asymmetric loss (ASL) with the authors' option of a focusing weight
without gradient."""
from typing import Optional

import torch
from mmpretrain.registry import MODELS

from .robust_asymmetric_loss import AsymmetricFocusingLoss
from .utils import focusing_weight


def detachable_asymmetric_loss(cls_score: torch.Tensor,
                               target: torch.Tensor,
                               gamma_pos: float = 0.0,
                               gamma_neg: float = 4.0,
                               clip: Optional[float] = 0.05,
                               eps: float = 1e-8,
                               detach_focusing_weight: bool = True
                               ) -> torch.Tensor:
    r"""Element-wise asymmetric loss, ``(N, C)``, no reduction.

    With :math:`p = \sigma(x)`, :math:`q = \min(1 - p + \mathrm{clip}, 1)`,
    :math:`p_t = y p + (1 - y) q` and :math:`\gamma_t = y \gamma^+ + (1 - y)
    \gamma^-`:

    .. math::

        \ell = -\big[y \log \max(p, \mathrm{eps})
                     + (1 - y) \log \max(q, \mathrm{eps})\big]
               \,(1 - p_t)^{\gamma_t}

    the ``AsymmetricLoss.forward`` of the ASL code
    (``Alibaba-MIIL/ASL``, ``src/loss_functions/losses.py``) before its
    ``-sum``. With ``detach_focusing_weight`` the factor
    :math:`(1 - p_t)^{\gamma_t}` is a constant of the backward pass (the
    code's ``disable_torch_grad_focal_loss=True``).

    Args:
        cls_score (Tensor): ``(N, C)`` logits (float32 or float64).
        target (Tensor): ``(N, C)`` targets in ``[0, 1]``, same dtype.
        gamma_pos, gamma_neg, clip, eps, detach_focusing_weight: see
            :class:`DetachableAsymmetricLoss`.

    Returns:
        Tensor: ``(N, C)`` non-reduced losses.
    """
    p = torch.sigmoid(cls_score)
    q = torch.sigmoid(-cls_score)  # = 1 - p, exact for large x
    if clip is not None and clip > 0:
        q = (q + clip).clamp(max=1)
    log_terms = target * torch.log(p.clamp(min=eps)) + \
        (1 - target) * torch.log(q.clamp(min=eps))
    if gamma_pos == 0 and gamma_neg == 0:
        return -log_terms
    with torch.set_grad_enabled(torch.is_grad_enabled()
                                and not detach_focusing_weight):
        p_t = target * p + (1 - target) * q
        gamma_t = gamma_pos * target + gamma_neg * (1 - target)
        focusing = focusing_weight(1 - p_t, gamma_t)
    return -log_terms * focusing


@MODELS.register_module()
class DetachableAsymmetricLoss(AsymmetricFocusingLoss):
    r"""Asymmetric loss (ASL; Ridnik et al., ICCV 2021) for multi-label
    classification, with the focusing weight detached from the backward
    pass by default, as the ASL authors train.

    MMPretrain's ``AsymmetricLoss`` differentiates through the asymmetric
    focusing weight :math:`(1 - p_t)^{\gamma_t}`. The ASL repository
    (``Alibaba-MIIL/ASL``) has the option ``disable_torch_grad_focal_loss``,
    which computes that weight without gradient; its training script
    (``train.py``) builds ``AsymmetricLoss(gamma_neg=4, gamma_pos=0,
    clip=0.05, disable_torch_grad_focal_loss=True)``, and its class
    ``AsymmetricLoss`` defaults to ``True`` (``AsymmetricLossOptimized``
    defaults to ``False``; the authors call the option one they experimented
    with, which changes the gradient analysis of the paper). The gradient
    differs: with the weight detached, :math:`\partial\ell/\partial x` of a
    negative is :math:`(1 - q)^{\gamma^-} \cdot \partial(-\log q)/\partial x`
    only, without the term from differentiating :math:`(1 - q)^{\gamma^-}`
    (see ``docs/multilabel.md``). The loss values are the same.

    With ``detach_focusing_weight=False`` this loss equals MMPretrain's
    ``AsymmetricLoss(use_sigmoid=True)`` for 0/1 targets (values and
    gradients; same reduction). For soft targets it follows the ASL code
    (:func:`detachable_asymmetric_loss`: the two log terms weighted by ``y``
    and ``1 - y``), while MMPretrain's takes :math:`-\log p_t` of the
    interpolated :math:`p_t`.

    **Reduction** (MMPretrain's): the ``(N, C)`` element losses are
    multiplied by ``weight`` and passed to ``weight_reduce_loss``;
    ``MultiLabelClsHead`` passes ``avg_factor=N``, so the training loss is
    the mean over samples of the per-sample sum over classes (the ASL code
    returns the sum over the batch). Computed in float32 with autocast
    disabled (float64 input stays float64).

    Args:
        gamma_pos (float): Focusing exponent :math:`\gamma^+` of positives,
            ``>= 0``. Defaults to 0.0 (ASL training script).
        gamma_neg (float): Focusing exponent :math:`\gamma^-` of negatives,
            ``>= 0``. Defaults to 4.0 (ASL training script).
        clip (float, optional): Probability margin ``m`` of negatives, in
            ``[0, 1)``; None or 0 disables it. Defaults to 0.05.
        eps (float): Lower clamp of the probabilities inside the logs, in
            ``(0, 1)``. Defaults to 1e-8.
        detach_focusing_weight (bool): Compute the focusing weight without
            gradient (the ASL code's ``disable_torch_grad_focal_loss``).
            Defaults to True (the ASL training script's setting).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 gamma_pos: float = 0.0,
                 gamma_neg: float = 4.0,
                 clip: Optional[float] = 0.05,
                 eps: float = 1e-8,
                 detach_focusing_weight: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(gamma_neg, gamma_pos, clip, eps,
                         detach_focusing_weight, reduction, loss_weight)

    def elementwise(self, logits: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        return detachable_asymmetric_loss(
            logits,
            target,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            clip=self.clip,
            eps=self.eps,
            detach_focusing_weight=self.detach_focusing_weight)

    def extra_repr(self) -> str:
        return (f'gamma_pos={self.gamma_pos}, gamma_neg={self.gamma_neg}, '
                f'clip={self.clip}, eps={self.eps}, detach_focusing_weight='
                f'{self.detach_focusing_weight}, reduction={self.reduction!r}'
                f', loss_weight={self.loss_weight}')


__all__ = ['DetachableAsymmetricLoss', 'detachable_asymmetric_loss']
