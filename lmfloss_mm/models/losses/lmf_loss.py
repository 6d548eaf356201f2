"""Large-margin-aware focal (LMF) loss."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmpretrain.registry import MODELS

from .ldam_loss import LDAMLoss
from .class_term_table import TermSpec
from .softmax_focal_loss import softmax_focal_loss
from .utils import OFFICIAL_MAX_M


@MODELS.register_module()
class LMFLoss(LDAMLoss):
    r"""Large-margin-aware focal loss (Sadi et al., arXiv 2212.12741).

    .. math::

        \mathcal{L}_{LMF} = \lambda_{LDAM}\,\mathcal{L}_{LDAM}
                          + \lambda_{focal}\,\mathcal{L}_{focal}

    with :math:`\mathcal{L}_{LDAM}` as in :class:`LDAMLoss` and
    :math:`\mathcal{L}_{focal} = -a_y (1 - p_y)^\gamma \log p_y` computed per
    sample on the *unshifted, unscaled* logits (:class:`SoftmaxFocalLoss`).

    The defaults reproduce the official code (``Adnan-Sadi/LMFLOSS``):
    ``ldam_weight=1.5`` (the paper's and code's ``alpha``, on LDAM),
    ``focal_weight=1.0`` (``beta``, on focal), ``gamma=1.5``, ``max_m=0.5``,
    ``s=30`` and the margin vector :math:`\Delta` reused as the class weights
    of *both* terms. As there, the LDAM term is a class-weight-normalised
    mean (``F.cross_entropy(weight=w)``) and the focal term a plain mean over
    the batch, so the focal term is effectively scaled by weights <= max_m.
    The public copy ``SanaNazari/LMFLoss`` swaps the two weights (its
    ``alpha`` scales focal) and computes its focal term from the batch-mean
    cross-entropy, which removes the per-sample focusing; neither is done
    here.

    Args:
        cls_num_list (list[int] | str): training samples per class, or
            ``'auto'``. Defaults to ``'auto'``.
        ldam_weight (float): weight of the LDAM term (``alpha`` in the
            official code). Defaults to 1.5.
        focal_weight (float): weight of the focal term (``beta`` in the
            official code). Defaults to 1.0.
        gamma (float): focal focusing parameter. Defaults to 1.5.
        max_m (float): largest LDAM margin. Defaults to 0.5.
        s (float): LDAM logit scale. Defaults to 30.
        class_weight (list[float] | str, optional): class weights of both
            terms: ``'margins'`` (default, official), ``'bwcce'``, a list of C
            floats, or None.
        normalize_class_weight (bool): LDAM term: divide by the batch's class
            weights (PyTorch convention). Defaults to True (official).
        focal_normalize_class_weight (bool): the same for the focal term.
            Defaults to False (official: plain batch mean).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): multiplier of the whole loss. Defaults to 1.0.
    """

    def __init__(self,
                 cls_num_list: Union[Sequence[int], str] = 'auto',
                 ldam_weight: float = 1.5,
                 focal_weight: float = 1.0,
                 gamma: float = 1.5,
                 max_m: float = OFFICIAL_MAX_M,
                 s: float = 30.0,
                 class_weight: Optional[Union[Sequence[float],
                                              str]] = 'margins',
                 normalize_class_weight: bool = True,
                 focal_normalize_class_weight: bool = False,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        if gamma < 0 or ldam_weight < 0 or focal_weight < 0:
            raise ValueError('LMFLoss: gamma, ldam_weight and focal_weight '
                             f'must be >= 0, got gamma={gamma}, ldam_weight='
                             f'{ldam_weight}, focal_weight={focal_weight}')
        super().__init__(
            cls_num_list=cls_num_list,
            max_m=max_m,
            s=s,
            class_weight=class_weight,
            normalize_class_weight=normalize_class_weight,
            reduction=reduction,
            loss_weight=loss_weight)
        self.ldam_weight = float(ldam_weight)
        self.focal_weight = float(focal_weight)
        self.gamma = float(gamma)
        self.focal_normalize_class_weight = focal_normalize_class_weight

    def hard_label_specs(self) -> Tuple[TermSpec, ...]:
        return (TermSpec(self.s, 0.0, self.ldam_weight, True,
                         self.normalize_class_weight),
                TermSpec(1.0, self.gamma, self.focal_weight, False,
                         self.focal_normalize_class_weight))

    def per_sample_loss(self, logits: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        loss = self.ldam_weight * self.ldam_term(logits, target)
        focal = softmax_focal_loss(logits, target, self.gamma,
                                   self.class_weight_like(logits))
        return loss + self.focal_weight * self.normalized(
            focal, target, self.focal_normalize_class_weight)

    def extra_repr(self) -> str:
        return (f'ldam_weight={self.ldam_weight}, '
                f'focal_weight={self.focal_weight}, gamma={self.gamma}, '
                + super().extra_repr())
