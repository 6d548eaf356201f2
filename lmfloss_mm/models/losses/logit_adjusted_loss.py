"""Logit-adjusted cross-entropy (Balanced Softmax for ``tau = 1``)."""
import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .base import ClassCountsLoss
from .margin_focal_nll import margin_focal_nll
from .utils import sample_coefficient, soft_target_nll


def logit_adjusted_loss(cls_score: torch.Tensor,
                        target: torch.Tensor,
                        log_prior: torch.Tensor,
                        tau: float,
                        class_weight: Optional[torch.Tensor] = None
                        ) -> torch.Tensor:
    """Per-sample logit-adjusted cross-entropy (no reduction).

    Args:
        cls_score (Tensor): ``(N, C)`` float32 logits ``z``.
        target (Tensor): ``(N,)`` class indices or ``(N, C)`` soft targets.
        log_prior (Tensor): ``(C,)`` ``log pi_j`` (training class priors).
        tau (float): adjustment strength.
        class_weight (Tensor, optional): ``(C,)`` class weights ``w``.

    Returns:
        Tensor: ``(N,)`` losses ``-sum_j q_j w_j log softmax(z + tau log
        pi)_j`` (hard: ``-w_y log softmax(z + tau log pi)_y``).
    """
    adjusted = cls_score + tau * log_prior if tau else cls_score
    if target.dim() == 1:
        return margin_focal_nll(
            adjusted, target, gamma=0.0,
            focal_coef=sample_coefficient(cls_score, target, class_weight))
    return soft_target_nll(F.log_softmax(adjusted, dim=1), target,
                           class_weight)


@MODELS.register_module()
class LogitAdjustedLoss(ClassCountsLoss):
    r"""Logit-adjusted softmax cross-entropy (Menon et al., ICLR 2021);
    ``tau=1`` is Balanced Softmax (Ren et al., NeurIPS 2020).

    .. math::

        \mathcal{L}_i = -\log
            \frac{e^{z_{y_i} + \tau \log \pi_{y_i}}}
                 {\sum_j e^{z_j + \tau \log \pi_j}},
        \qquad \pi_j = \frac{n_j}{\sum_k n_k}

    The training class prior :math:`\pi` comes from the training counts
    (``cls_num_list='auto'``).  Adding :math:`\tau \log \pi_j` makes the
    frequent classes "easier" during training so that the *plain* logits
    :math:`z` learn a balanced classifier: **predictions use the plain
    logits** (the head's ``predict`` is unchanged).  For the post-hoc variant
    (train with plain CE, predict with :math:`z - \tau \log \pi`) use the
    evaluator ``ImbalancedClsMetric(cls_num_list='auto',
    logit_adjust_tau=tau)`` instead.

    Soft targets ``q`` (Mixup, CutMix, label smoothing):
    :math:`-\sum_j q_{ij} w_j \log \mathrm{softmax}(z_i + \tau\log\pi)_j`.

    Args:
        tau (float): adjustment strength, ``>= 0``; 0 gives plain
            cross-entropy. Defaults to 1.0 (Menon et al.; Balanced Softmax).
        cls_num_list (list[int] | str): training samples per class or
            ``'auto'``. Defaults to ``'auto'``.
        class_weight (list[float] | str, optional): optional class weights
            on top (None, C floats or a scheme of
            :func:`class_weights_from_counts`). Defaults to None.
        normalize_class_weight (bool): with class weights, divide by the
            batch's class weights (PyTorch's weighted mean) instead of N.
            Defaults to False.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    requires_class_counts = True

    def __init__(self,
                 tau: float = 1.0,
                 cls_num_list: Union[Sequence[int], str] = 'auto',
                 class_weight: Optional[Union[Sequence[float], str]] = None,
                 normalize_class_weight: bool = False,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        if not (math.isfinite(float(tau)) and float(tau) >= 0):
            raise ValueError(f'LogitAdjustedLoss: tau must be a finite number'
                             f' >= 0, got {tau}')
        self.tau = float(tau)
        super().__init__(cls_num_list, class_weight, normalize_class_weight,
                         reduction, loss_weight)

    def _counts_changed(self, counts: torch.Tensor) -> None:
        counts = counts.double()
        self.register_buffer(
            'log_prior', (counts / counts.sum()).log().float().to(
                self.class_counts.device),
            persistent=False)

    def per_sample_loss(self, logits: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        loss = logit_adjusted_loss(logits, target, self.log_prior.to(logits),
                                   self.tau, self.class_weight_like(logits))
        return self.normalized(loss, target, self.normalize_class_weight)

    def extra_repr(self) -> str:
        return (f'tau={self.tau}, class_weight={self.class_weight_spec!r}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')


__all__ = ['LogitAdjustedLoss', 'logit_adjusted_loss']
