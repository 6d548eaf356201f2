"""Label-distribution-aware margin (LDAM) loss."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .utils import (OFFICIAL_MAX_M, ClassCountsMixin, autocast_disabled,
                    check_reduction, float32_logits, ldam_margins,
                    prepare_target, reduce_loss, normalize_by_class_weight)


def ldam_loss(cls_score: torch.Tensor,
              target: torch.Tensor,
              margins: torch.Tensor,
              s: float,
              class_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-sample LDAM loss (no reduction, no normalisation).

    Args:
        cls_score (Tensor): ``(N, C)`` float32 logits.
        target (Tensor): ``(N,)`` class indices or ``(N, C)`` soft targets.
        margins (Tensor): ``(C,)`` margins ``Delta``.
        s (float): logit scale.
        class_weight (Tensor, optional): ``(C,)`` class weights ``w``.

    Returns:
        Tensor: ``(N,)`` losses. Hard target ``y``:
        ``-w_y log softmax(s * (z - Delta_y e_y))_y``. Soft target ``q``:
        ``-sum_j q_j w_j log softmax(s * (z - q * Delta))_j``.
    """
    if target.dim() == 1:
        index = target[:, None]
        shifted = cls_score.scatter_add(1, index, -margins[index])
        log_prob = F.log_softmax(s * shifted, dim=1)
        loss = -log_prob.gather(1, index).squeeze(1)
        if class_weight is not None:
            loss = loss * class_weight[target]
        return loss
    log_prob = F.log_softmax(s * (cls_score - target * margins), dim=1)
    coefficient = target if class_weight is None else target * class_weight
    return -(coefficient * log_prob).sum(dim=1)


@MODELS.register_module()
class LDAMLoss(ClassCountsMixin, nn.Module):
    r"""Label-distribution-aware margin loss (Cao et al., NeurIPS 2019).

    .. math::

        \mathcal{L}_i = -w_{y_i} \log
            \frac{e^{s(z_{y_i} - \Delta_{y_i})}}
                 {e^{s(z_{y_i} - \Delta_{y_i})} + \sum_{j \ne y_i} e^{s z_j}},
        \qquad \Delta_j = m_{max} \left(\frac{n_{min}}{n_j}\right)^{1/4}

    where :math:`n_j` is the number of training samples of class :math:`j`,
    so the rarest class gets the largest margin :math:`m_{max}`.

    Soft targets ``q`` (Mixup, CutMix, label smoothing): the margin of class
    ``j`` is scaled by its target mass, logits ``z - q * Delta``, followed by
    soft cross-entropy with class weights ``-sum_j q_j w_j log p_j``. For a
    one-hot ``q`` this is exactly the hard-label loss.

    Normalisation: with ``normalize_class_weight=True`` (default, as
    ``F.cross_entropy(weight=w)`` in the original LDAM and LMF code) each
    sample's loss is divided by the batch mean of ``omega_i = w_{y_i}``
    (soft: ``sum_j q_j w_j``), so ``reduction='mean'`` with MMPretrain's
    ``avg_factor=N`` gives :math:`\sum_i \omega_i l_i / \sum_i \omega_i`: the
    scale of ``w`` cancels out. With ``False``, the mean is
    :math:`\sum_i \omega_i l_i / N` (MMPretrain's ``CrossEntropyLoss``).

    Args:
        cls_num_list (list[int] | str): training samples per class, or
            ``'auto'`` (filled from the training set by
            :class:`SetClassCountsHook` before the first iteration).
            Defaults to ``'auto'``.
        max_m (float): largest margin :math:`m_{max}`. Defaults to 0.5.
        s (float): logit scale. The LDAM paper applies it to cosine logits
            (normalised features and weights); the official LMF code applies
            it to an ordinary linear head. Defaults to 30.
        class_weight (list[float] | str, optional): per-class weights ``w``:
            None, a list of C floats, ``'margins'`` (reuse the margin vector
            ``Delta``, as the official LMF code does) or ``'bwcce'``.
            Defaults to None (the LDAM paper's unweighted loss).
        normalize_class_weight (bool): see above. Defaults to True.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 cls_num_list: Union[Sequence[int], str] = 'auto',
                 max_m: float = OFFICIAL_MAX_M,
                 s: float = 30.0,
                 class_weight: Optional[Union[Sequence[float], str]] = None,
                 normalize_class_weight: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if max_m <= 0 or s <= 0:
            raise ValueError(f'{type(self).__name__}: max_m and s must be > 0,'
                             f' got max_m={max_m}, s={s}')
        check_reduction(reduction)
        self.max_m = float(max_m)
        self.s = float(s)
        self.normalize_class_weight = normalize_class_weight
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.register_buffer('margins', None, persistent=False)
        self._init_class_counts(cls_num_list, class_weight)

    def _needs_counts(self, class_weight) -> bool:
        return True

    def _counts_reason(self, class_weight) -> str:
        return 'the LDAM margin'

    def _scheme_kwargs(self) -> dict:
        return dict(max_m=self.max_m)

    def _counts_changed(self, counts: torch.Tensor) -> None:
        self.margins = ldam_margins(counts, self.max_m).to(
            self.class_counts.device)

    def _weighted_loss(self, logits, target):
        """Per-sample LDAM loss, class-weight normalised if configured."""
        class_weight = self._class_weight_on(logits.device)
        loss = ldam_loss(logits, target, self.margins.to(logits.device),
                         self.s, class_weight)
        if self.normalize_class_weight and class_weight is not None:
            loss = normalize_by_class_weight(loss, target, class_weight)
        return loss

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            cls_score (Tensor): ``(N, C)`` logits.
            label (Tensor): ``(N,)`` class indices or ``(N, C)`` soft targets.
            weight (Tensor, optional): ``(N,)`` sample weights.
            avg_factor (float, optional): denominator of the mean.
            reduction_override (str, optional): overrides ``reduction``.
        """
        check_reduction(reduction_override)
        reduction = reduction_override or self.reduction
        with autocast_disabled(cls_score):
            logits = float32_logits(cls_score)
            self._check_ready(logits.size(1))
            target = prepare_target(label, logits.size(1), self._name)
            loss = self._weighted_loss(logits, target)
            loss = reduce_loss(loss, weight, reduction, avg_factor)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'max_m={self.max_m}, s={self.s}, '
                f'class_weight={self.class_weight_spec!r}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')
