"""Label-distribution-aware margin (LDAM) loss."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .base import ClassCountsLoss
from .class_term_table import TermSpec
from .margin_focal_nll import margin_focal_nll
from .utils import (OFFICIAL_MAX_M, ldam_margins, sample_coefficient,
                    soft_target_nll)


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
        return margin_focal_nll(
            cls_score, target, margins.index_select(0, target), s,
            ldam_coef=sample_coefficient(cls_score, target, class_weight))
    log_prob = F.log_softmax(s * (cls_score - target * margins), dim=1)
    return soft_target_nll(log_prob, target, class_weight)


@MODELS.register_module()
class LDAMLoss(ClassCountsLoss):
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

    requires_class_counts = True

    def __init__(self,
                 cls_num_list: Union[Sequence[int], str] = 'auto',
                 max_m: float = OFFICIAL_MAX_M,
                 s: float = 30.0,
                 class_weight: Optional[Union[Sequence[float], str]] = None,
                 normalize_class_weight: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        if max_m <= 0 or s <= 0:
            raise ValueError(f'{type(self).__name__}: max_m and s must be > 0,'
                             f' got max_m={max_m}, s={s}')
        self.max_m = float(max_m)
        self.s = float(s)
        super().__init__(cls_num_list, class_weight, normalize_class_weight,
                         reduction, loss_weight)

    def _scheme_kwargs(self) -> dict:
        return dict(max_m=self.max_m)

    def _counts_changed(self, counts: torch.Tensor) -> None:
        self.register_buffer(
            'margins',
            ldam_margins(counts, self.max_m).to(self.class_counts.device),
            persistent=False)

    def ldam_term(self, logits: torch.Tensor,
                  target: torch.Tensor) -> torch.Tensor:
        """Per-sample LDAM loss, class-weight normalised if configured."""
        loss = ldam_loss(logits, target, self.margins.to(logits), self.s,
                         self.class_weight_like(logits))
        return self.normalized(loss, target, self.normalize_class_weight)

    def hard_label_specs(self) -> Tuple[TermSpec, ...]:
        return (TermSpec(self.s, 0.0, 1.0, True,
                         self.normalize_class_weight), )

    def per_sample_loss(self, logits: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        return self.ldam_term(logits, target)

    def extra_repr(self) -> str:
        return (f'max_m={self.max_m}, s={self.s}, '
                f'class_weight={self.class_weight_spec!r}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')
