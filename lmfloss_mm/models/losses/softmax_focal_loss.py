"""Multi-class (softmax) focal loss."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .base import ClassCountsLoss
from .class_term_table import TermSpec
from .margin_focal_nll import margin_focal_nll
from .utils import focusing_weight, sample_coefficient, soft_target_nll


def softmax_focal_loss(cls_score: torch.Tensor,
                       target: torch.Tensor,
                       gamma: float,
                       class_weight: Optional[torch.Tensor] = None
                       ) -> torch.Tensor:
    """Per-sample softmax focal loss (no reduction, no normalisation).

    Args:
        cls_score (Tensor): ``(N, C)`` float32 logits.
        target (Tensor): ``(N,)`` class indices or ``(N, C)`` soft targets,
            as returned by :func:`prepare_target`.
        gamma (float): focusing parameter.
        class_weight (Tensor, optional): ``(C,)`` per-class weights ``a``.

    Returns:
        Tensor: ``(N,)`` losses
        ``-sum_j q_j a_j (1 - p_j) ** gamma * log p_j``.
    """
    if target.dim() == 1:
        return margin_focal_nll(
            cls_score, target, gamma=gamma,
            focal_coef=sample_coefficient(cls_score, target, class_weight))
    log_prob = F.log_softmax(cls_score, dim=1)
    return soft_target_nll(
        log_prob, target, class_weight,
        modulation=focusing_weight(-torch.expm1(log_prob), gamma))


@MODELS.register_module()
class SoftmaxFocalLoss(ClassCountsLoss):
    r"""Softmax focal loss for single-label multi-class classification.

    .. math::

        \mathcal{L}_i = -a_{y_i} (1 - p_{i,y_i})^{\gamma} \log p_{i,y_i},
        \qquad p_i = \mathrm{softmax}(z_i)

    The modulating factor is computed for every sample (Lin et al., 2017), not
    on the batch-mean cross-entropy as in one public LMF copy.  MMPretrain's
    own ``FocalLoss`` is the *sigmoid* (one-vs-rest) form.  This is the
    focal loss of the official LMF code (it loads
    ``AdeelH/pytorch-multi-class-focal-loss``:
    :math:`a_y (1 - p_y)^\gamma (-\log p_y)`, plain batch mean).  The
    LDAM-DRW code's ``FocalLoss`` (``kaidic/LDAM-DRW``, ``losses.py``) is
    the same loss without class weights but not with them: it applies the
    focal factor to the *weighted* cross-entropy,
    ``focal_loss(F.cross_entropy(input, target, weight=w,
    reduction='none'), gamma)`` with ``p = exp(-CE)``, which is
    :math:`(1 - p_y^{w_y})^\gamma (-w_y \log p_y)`: its modulating factor
    is :math:`(1 - p_y^{w_y})^\gamma`, not :math:`(1 - p_y)^\gamma`
    (smaller for :math:`w_y < 1`, larger for :math:`w_y > 1`).

    For soft targets ``q`` (Mixup, CutMix, label smoothing) the loss is the
    expectation of the hard loss under ``q``:
    :math:`-\sum_j q_{ij} a_j (1 - p_{ij})^\gamma \log p_{ij}`; Mixup of two
    images therefore gives exactly ``lam * FL(y_1) + (1 - lam) * FL(y_2)``.

    Normalisation: with ``normalize_class_weight=False`` (default, as the
    focal loss used by the official LMF code) ``reduction='mean'`` divides the
    weighted sum by the batch size (MMPretrain's ``ClsHead`` passes
    ``avg_factor=N``): :math:`\sum_i \omega_i l_i / N`.  With ``True`` every
    sample's loss is divided by the batch mean of ``omega_i`` first, which
    gives PyTorch's weighted mean :math:`\sum_i \omega_i l_i / \sum_i
    \omega_i`.  ``omega_i = a_{y_i}`` (hard) or ``sum_j q_ij a_j`` (soft).

    Args:
        gamma (float): focusing parameter :math:`\gamma \ge 0`; 0 gives
            (weighted) cross-entropy. Defaults to 2.0 (Lin et al.); the LMF
            recipe uses 1.5.
        class_weight (list[float] | str, optional): per-class weights ``a``:
            None (unweighted), a list of C floats, ``'margins'`` (the official
            LMF code's choice, ``0.5 * (n_min / n_j) ** (1/4)``) or
            ``'bwcce'`` (``(1 - n_j / N) / (C - 1)``). The two schemes need
            ``cls_num_list``. Defaults to None.
        cls_num_list (list[int] | str, optional): training samples per class,
            or ``'auto'`` to have :class:`SetClassCountsHook` fill them from
            the training set. Only used by the class-weight schemes.
            Defaults to None.
        normalize_class_weight (bool): divide by the batch's class weights
            (PyTorch convention) instead of the batch size. Defaults to False.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 gamma: float = 2.0,
                 class_weight: Optional[Union[Sequence[float], str]] = None,
                 cls_num_list: Optional[Union[Sequence[int], str]] = None,
                 normalize_class_weight: bool = False,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        if gamma < 0:
            raise ValueError(f'SoftmaxFocalLoss: gamma must be >= 0, got '
                             f'{gamma}')
        super().__init__(cls_num_list, class_weight, normalize_class_weight,
                         reduction, loss_weight)
        self.gamma = float(gamma)

    def hard_label_specs(self) -> Tuple[TermSpec, ...]:
        return (TermSpec(1.0, self.gamma, 1.0, False,
                         self.normalize_class_weight), )

    def per_sample_loss(self, logits: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        loss = softmax_focal_loss(logits, target, self.gamma,
                                  self.class_weight_like(logits))
        return self.normalized(loss, target, self.normalize_class_weight)

    def extra_repr(self) -> str:
        return (f'gamma={self.gamma}, class_weight={self.class_weight_spec!r}'
                f', reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')
