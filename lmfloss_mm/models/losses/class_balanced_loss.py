"""Class-weighted cross-entropy and the class-balanced (effective number)
loss."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmpretrain.registry import MODELS

from .base import ClassCountsLoss
from .class_term_table import TermSpec
from .softmax_focal_loss import softmax_focal_loss
from .utils import DEFAULT_CB_BETA


class _WeightedSoftmaxLoss(ClassCountsLoss):
    """Softmax cross-entropy or focal loss with per-class weights ``w``:
    ``l_i = -sum_j q_ij w_j (1 - p_ij) ** gamma log p_ij`` (hard labels:
    ``-w_y (1 - p_y) ** gamma log p_y``, computed by the fused kernel)."""

    def __init__(self, gamma, beta, cls_num_list, class_weight,
                 normalize_class_weight, reduction, loss_weight):
        if gamma < 0:
            raise ValueError(f'{type(self).__name__}: gamma must be >= 0, '
                             f'got {gamma}')
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f'{type(self).__name__}: beta must be in [0, 1),'
                             f' got {beta}')
        self.gamma = float(gamma)
        self.beta = float(beta)
        super().__init__(cls_num_list, class_weight, normalize_class_weight,
                         reduction, loss_weight)

    def _scheme_kwargs(self) -> dict:
        return dict(beta=self.beta)

    def hard_label_specs(self) -> Tuple[TermSpec, ...]:
        return (TermSpec(1.0, self.gamma, 1.0, False,
                         self.normalize_class_weight), )

    def per_sample_loss(self, logits: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        loss = softmax_focal_loss(logits, target, self.gamma,
                                  self.class_weight_like(logits))
        return self.normalized(loss, target, self.normalize_class_weight)


@MODELS.register_module()
class WeightedCrossEntropyLoss(_WeightedSoftmaxLoss):
    r"""Softmax cross-entropy with per-class weights computed from the
    training class counts.

    .. math::

        \mathcal{L}_i = -w_{y_i} \log p_{i,y_i}, \qquad
        \text{soft targets: } -\sum_j q_{ij} w_j \log p_{ij}

    Weight schemes (``class_weight``):

    * ``'bwcce'`` (default): the official LMF code's ``BWCCE`` baseline,
      :math:`w_j = (1 - n_j / N) / (C - 1)` (the weights sum to 1);
    * ``'effective_number'``: :math:`(1-\beta)/(1-\beta^{n_j})` normalised to
      sum to C (Cui et al., 2019);
    * ``'inverse_frequency'``: :math:`1/n_j` normalised to sum to C;
    * ``'margins'``: the LDAM margin vector (official LMF class weights);
    * a list of C floats (then ``cls_num_list=None`` is allowed), or None
      (plain cross-entropy).

    Normalisation: with ``normalize_class_weight=True`` (default) the mean is
    PyTorch's weighted mean :math:`\sum_i \omega_i l_i / \sum_i \omega_i`
    (``omega_i = w_{y_i}``, soft: ``sum_j q_ij w_j``), exactly what the
    official code's ``nn.CrossEntropyLoss(weight=w)`` computes; the overall
    scale of ``w`` then cancels out, so the BWCCE weights summing to 1 do not
    shrink the learning rate. With ``False`` it is
    :math:`\sum_i \omega_i l_i / N` (MMPretrain's ``CrossEntropyLoss``
    with ``class_weight``).

    Args:
        class_weight (str | list[float], optional): see above.
            Defaults to ``'bwcce'``.
        cls_num_list (list[int] | str, optional): training samples per class,
            ``'auto'`` (filled by :class:`SetClassCountsHook`) or None.
            Defaults to ``'auto'``.
        beta (float): ``beta`` of ``'effective_number'``, in ``[0, 1)``.
            Defaults to 0.9999.
        normalize_class_weight (bool): see above. Defaults to True.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 class_weight: Optional[Union[Sequence[float],
                                              str]] = 'bwcce',
                 cls_num_list: Optional[Union[Sequence[int], str]] = 'auto',
                 beta: float = DEFAULT_CB_BETA,
                 normalize_class_weight: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(0.0, beta, cls_num_list, class_weight,
                         normalize_class_weight, reduction, loss_weight)

    def extra_repr(self) -> str:
        return (f'class_weight={self.class_weight_spec!r}, beta={self.beta}, '
                f'normalize_class_weight={self.normalize_class_weight}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')


@MODELS.register_module()
class ClassBalancedLoss(_WeightedSoftmaxLoss):
    r"""Class-balanced loss (Cui et al., CVPR 2019) on softmax cross-entropy
    (``gamma=0``) or softmax focal loss (``gamma > 0``).

    .. math::

        \mathcal{L}_i = -w_{y_i} (1 - p_{i,y_i})^\gamma \log p_{i,y_i},
        \qquad w_j = C\,\frac{(1-\beta)/(1-\beta^{n_j})}
                              {\sum_k (1-\beta)/(1-\beta^{n_k})}

    :math:`(1-\beta^{n})/(1-\beta)` is the "effective number" of samples of a
    class with :math:`n` samples; ``beta=0`` gives the unweighted loss and
    ``beta -> 1`` inverse-frequency weights. Soft targets ``q``:
    :math:`-\sum_j q_{ij} w_j (1-p_{ij})^\gamma \log p_{ij}`.

    Normalisation: as in the authors' code
    (``richardaecn/class-balanced-loss``,
    ``tf.losses.softmax_cross_entropy(weights=w_y)`` and the focal loss
    divided by the number of positives) the mean is
    :math:`\sum_i w_{y_i} l_i / N` (``normalize_class_weight=False``, the
    default); ``True`` gives PyTorch's weighted mean instead.

    Cui et al. use sigmoid focal loss for their best results; this is the
    softmax form, matching this project's :class:`SoftmaxFocalLoss`.

    Args:
        beta (float): in ``[0, 1)``. Defaults to 0.9999 (Cui et al.'s value
            for long-tailed CIFAR, and LDAM-DRW's).
        gamma (float): focal focusing parameter; 0 gives class-balanced
            softmax cross-entropy. Defaults to 0.
        cls_num_list (list[int] | str): training samples per class or
            ``'auto'``. Defaults to ``'auto'``.
        normalize_class_weight (bool): see above. Defaults to False.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 beta: float = DEFAULT_CB_BETA,
                 gamma: float = 0.0,
                 cls_num_list: Union[Sequence[int], str] = 'auto',
                 normalize_class_weight: bool = False,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__(gamma, beta, cls_num_list, 'effective_number',
                         normalize_class_weight, reduction, loss_weight)

    def extra_repr(self) -> str:
        return (f'beta={self.beta}, gamma={self.gamma}, '
                f'normalize_class_weight={self.normalize_class_weight}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')


__all__ = ['WeightedCrossEntropyLoss', 'ClassBalancedLoss']
