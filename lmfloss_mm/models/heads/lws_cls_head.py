"""Learnable weight scaling (LWS) of a linear classifier."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS


@MODELS.register_module()
class LWSClsHead(LinearClsHead):
    r"""A linear head whose logits are rescaled by one learnable factor per
    class: learnable weight scaling (LWS, Kang et al., ICLR 2020).

    .. math::

        z_j = f_j \, (w_j^\top x + b_j), \qquad f_j \text{ initialised to } 1

    Kang et al. (``facebookresearch/classifier-balancing``,
    ``models/TauNormClassifier.py``) keep the stage-1 weights ``w`` and bias
    ``b`` fixed and train only ``f`` on the frozen backbone with
    class-balanced sampling; like that code, the factor multiplies the whole
    logit, bias included. MiSLAS (Zhong et al., CVPR 2021,
    ``dvlab-research/MiSLAS``, ``LearnableWeightScaling``) uses the same
    layer but fine-tunes the classifier too (at 0.05 times the learning
    rate): ``freeze_classifier=False``.

    The factors are the parameter ``scales`` (checkpoint key
    ``head.scales``). A stage-1 checkpoint of a :class:`LinearClsHead` has
    ``head.fc.weight`` and ``head.fc.bias`` but no ``head.scales``: loaded
    with ``load_from`` it fills the classifier and leaves the factors at 1,
    so before the first step this head computes the stage-1 logits.

    Args:
        num_classes (int): Number of classes C.
        in_channels (int): Feature dimension.
        freeze_classifier (bool): Whether ``fc.weight`` and ``fc.bias`` are
            fixed (``requires_grad=False``, set at construction, so
            distributed wrappers never expect their gradients). Defaults to
            True (Kang et al.'s LWS).
        init_cfg (dict, optional): Initialisation of ``fc`` (``scales``
            always starts at 1). Defaults to
            ``dict(type='Normal', layer='Linear', std=0.01)``, as
            :class:`LinearClsHead`.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of :class:`ClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 freeze_classifier: bool = True,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01),
                 **kwargs):
        super().__init__(num_classes, in_channels, init_cfg=init_cfg,
                         **kwargs)
        self.freeze_classifier = bool(freeze_classifier)
        self.scales = nn.Parameter(torch.ones(num_classes))
        if self.freeze_classifier:
            self.fc.requires_grad_(False)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """``f * (W x + b)``: ``(N, C)`` logits."""
        return self.fc(self.pre_logits(feats)) * self.scales

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, in_channels='
                f'{self.in_channels}, freeze_classifier='
                f'{self.freeze_classifier}')
