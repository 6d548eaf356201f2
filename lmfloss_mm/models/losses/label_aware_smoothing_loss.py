"""Label-aware smoothing (MiSLAS, Zhong et al., CVPR 2021)."""
import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .base import ClassCountsLoss
from .utils import soft_target_nll

#: How the smoothing grows from the rarest to the most frequent class.
SHAPES = ('concave', 'linear', 'convex', 'exp')


def label_aware_smoothing(counts: torch.Tensor, eps_head: float,
                          eps_tail: float, shape: str = 'concave',
                          power: Optional[float] = None) -> torch.Tensor:
    r"""Per-class smoothing factors of label-aware smoothing.

    With :math:`x_j = (n_j - n_{min}) / (n_{max} - n_{min}) \in [0, 1]`:

    * ``'concave'``: :math:`\epsilon_j = \epsilon_{tail} + (\epsilon_{head}
      - \epsilon_{tail}) \sin(\pi x_j / 2)`;
    * ``'linear'``: :math:`\epsilon_{tail} + (\epsilon_{head} -
      \epsilon_{tail})\, x_j`;
    * ``'convex'``: :math:`\epsilon_{tail} + (\epsilon_{head} -
      \epsilon_{tail}) (1 - \cos(\pi x_j / 2))`;
    * ``'exp'``: :math:`\epsilon_{tail} + (\epsilon_{head} -
      \epsilon_{tail})\, x_j^{power}`;

    the formulas of the MiSLAS code (``methods.py``,
    ``LabelAwareSmoothing``; its convex form is written there as
    :math:`\epsilon_{head} + (\epsilon_{head} - \epsilon_{tail})
    \sin(3\pi/2 + \pi x/2)`, the same function). The rarest class gets
    :math:`\epsilon_{tail}`, the most frequent :math:`\epsilon_{head}`.

    Args:
        counts (Tensor): ``(C,)`` training counts, not all equal.
        eps_head (float): Smoothing of the most frequent class.
        eps_tail (float): Smoothing of the rarest class.
        shape (str): One of :data:`SHAPES`. Defaults to ``'concave'``.
        power (float, optional): Exponent of ``'exp'``.

    Returns:
        Tensor: ``(C,)`` float64 smoothing factors.
    """
    counts = counts.double()
    low, high = counts.min(), counts.max()
    if high == low:
        raise ValueError(
            'LabelAwareSmoothingLoss: every class has the same training count '
            f'({int(low)}), so there is no head or tail to smooth differently;'
            ' use LabelSmoothLoss (uniform smoothing) instead')
    x = (counts - low) / (high - low)
    if shape == 'concave':
        grow = torch.sin(x * math.pi / 2)
    elif shape == 'linear':
        grow = x
    elif shape == 'convex':
        grow = 1 - torch.cos(x * math.pi / 2)
    elif shape == 'exp':
        grow = x.pow(power)
    else:
        raise ValueError(f'LabelAwareSmoothingLoss: shape must be one of '
                         f'{SHAPES}, got {shape!r}')
    return eps_tail + (eps_head - eps_tail) * grow


@MODELS.register_module()
class LabelAwareSmoothingLoss(ClassCountsLoss):
    r"""Cross-entropy with label-aware smoothing (MiSLAS: Zhong et al.,
    "Improving Calibration for Long-Tailed Recognition", CVPR 2021; code
    ``dvlab-research/MiSLAS``).

    Label smoothing whose factor depends on the class of the label: frequent
    classes, on which the model is over-confident, are smoothed more.

    .. math::

        \mathcal{L}_i = (1 - \epsilon_{y_i}) (-\log p_{i,y_i})
            + \epsilon_{y_i} \frac{1}{C}\sum_{k} (-\log p_{ik}),
        \qquad p_i = \mathrm{softmax}(z_i)

    i.e. cross-entropy against the target :math:`(1 - \epsilon_y)\,
    \mathrm{onehot}(y) + \epsilon_y / C`, with :math:`\epsilon_j` from the
    training counts (:func:`label_aware_smoothing`). This is the MiSLAS
    code's ``LabelAwareSmoothing.forward`` per sample; the mean over the
    batch is MMPretrain's reduction.

    Soft targets ``q`` (Mixup, CutMix): the expectation of the hard loss,
    :math:`\sum_j q_{ij} [(1 - \epsilon_j)(-\log p_{ij}) + \epsilon_j
    \frac{1}{C}\sum_k (-\log p_{ik})]`.

    MiSLAS applies it in its second stage (classifier re-training on the
    frozen, Mixup-trained features); its values are
    ``eps_head=0.3, eps_tail=0.0`` (CIFAR-10-LT, ImageNet-LT) and 0.4 / 0.1
    (CIFAR-100-LT, imbalance ratio 100).

    Args:
        eps_head (float): Smoothing of the most frequent class, in
            ``[0, 1]``. Defaults to 0.3.
        eps_tail (float): Smoothing of the rarest class, in ``[0, 1]``.
            Defaults to 0.0.
        shape (str): ``'concave'`` (MiSLAS' default), ``'linear'``,
            ``'convex'`` or ``'exp'``. Defaults to ``'concave'``.
        power (float, optional): Exponent for ``shape='exp'`` (> 0).
        cls_num_list (list[int] | str): Training counts or ``'auto'``
            (filled by ``SetClassCountsHook``). Defaults to ``'auto'``.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 eps_head: float = 0.3,
                 eps_tail: float = 0.0,
                 shape: str = 'concave',
                 power: Optional[float] = None,
                 cls_num_list: Union[Sequence[int], str] = 'auto',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        for name, value in (('eps_head', eps_head), ('eps_tail', eps_tail)):
            if not 0 <= value <= 1:
                raise ValueError(f'LabelAwareSmoothingLoss: {name} must be in '
                                 f'[0, 1], got {value}')
        if shape not in SHAPES:
            raise ValueError(f'LabelAwareSmoothingLoss: shape must be one of '
                             f'{SHAPES}, got {shape!r}')
        if (shape == 'exp') != (power is not None) or (
                power is not None and not power > 0):
            raise ValueError('LabelAwareSmoothingLoss: power (> 0) is needed '
                             "by shape='exp' and only by it, got shape="
                             f'{shape!r}, power={power!r}')
        if cls_num_list is None:
            raise ValueError(
                'LabelAwareSmoothingLoss: the smoothing factors come from the '
                "training class counts: set cls_num_list='auto' (filled by "
                'SetClassCountsHook) or cls_num_list=[n_0, n_1, ...]')
        self.eps_head = float(eps_head)
        self.eps_tail = float(eps_tail)
        self.shape = shape
        self.power = None if power is None else float(power)
        super().__init__(cls_num_list, None, False, reduction, loss_weight)

    def _counts_changed(self, counts: torch.Tensor) -> None:
        smoothing = label_aware_smoothing(counts, self.eps_head,
                                          self.eps_tail, self.shape,
                                          self.power)
        self.register_buffer('smoothing',
                             smoothing.float().to(self.class_counts.device),
                             persistent=False)

    def per_sample_loss(self, logits: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        log_prob = F.log_softmax(logits, dim=1)
        eps = self.smoothing.to(logits)
        uniform = -log_prob.mean(dim=1)
        if target.dim() == 1:
            eps_y = eps.index_select(0, target)
            nll = -log_prob.gather(1, target.unsqueeze(1)).squeeze(1)
            return (1 - eps_y) * nll + eps_y * uniform
        return soft_target_nll(log_prob, target, 1 - eps) + \
            (target @ eps) * uniform

    def extra_repr(self) -> str:
        return (f'eps_head={self.eps_head}, eps_tail={self.eps_tail}, '
                f'shape={self.shape!r}, power={self.power}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')


__all__ = ['LabelAwareSmoothingLoss', 'label_aware_smoothing']
