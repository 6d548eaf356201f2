"""A classification head whose logits are cosine similarities.

This is the LDAM paper's ``NormedLinear`` last layer (Cao et al., NeurIPS
2019, ``kaidic/LDAM-DRW`` ``models/resnet_cifar.py``) as an MMPretrain head.
"""
import contextlib
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def cosine_logits(features: torch.Tensor, weight: torch.Tensor,
                  eps: float) -> torch.Tensor:
    """``(N, C)`` cosines between the rows of ``features`` ``(N, D)`` and of
    ``weight`` ``(C, D)``, computed in float32 (float64 is kept) with autocast
    off: a half-precision norm overflows above 65504 (2048 features of size
    1500), and float16 resolves cosines near 1 only to about 5e-4, a step of
    0.015 in the logits once LDAM multiplies them by ``s = 30``."""
    dtype = torch.float64 if torch.float64 in (features.dtype,
                                               weight.dtype) else torch.float32
    device_type = features.device.type
    context = torch.autocast(device_type=device_type, enabled=False) \
        if torch.is_autocast_enabled(device_type) else \
        contextlib.nullcontext()
    with context:
        features = F.normalize(features.to(dtype), dim=1, eps=eps)
        weight = F.normalize(weight.to(dtype), dim=1, eps=eps)
        return F.linear(features, weight)


@MODELS.register_module()
class CosineClsHead(ClsHead):
    r"""Cosine classifier head: logits are cosines between the L2-normalised
    feature and the L2-normalised weight vector of each class.

    .. math::

        z_j = \text{scale} \cdot \cos\theta_j
            = \text{scale} \cdot \frac{w_j^\top x}
                                      {\|w_j\|\,\|x\|}
            \in [-\text{scale}, \text{scale}]

    This is ``NormedLinear``, the last layer of the LDAM-DRW code for its LDAM
    runs; there, LDAM's ``s = 30`` multiplies these cosines and acts as an
    inverse temperature, and the margins ``Delta_j <= 0.5`` are distances in
    cosine units. The official LMF code instead multiplies the raw logits of
    an ordinary linear head by 30, which makes the margins small relative to
    the unbounded logits. With this head, LDAM and LMF configs get the LDAM
    paper's design.

    ``scale`` defaults to 1.0 because :class:`LDAMLoss` and :class:`LMFLoss`
    apply their own ``s``: with ``scale=30`` *and* ``s=30`` the LDAM term
    would see ``900 * cos``. Losses that do not scale the logits need a scale
    here: the softmax of raw cosines is nearly uniform (at best
    ``e / (e + (C - 1) / e)``, 0.55 for 7 classes), so cross-entropy or
    focal loss on ``scale=1`` cosines can never become confident and keeps
    pushing on every sample. Use ``scale`` around 16-30 with
    ``CrossEntropyLoss`` or ``SoftmaxFocalLoss`` (30 is LDAM's ``s``).

    Note that the focal term of :class:`LMFLoss` is computed on the logits
    it receives, *unscaled*; with this head at ``scale=1`` its probabilities
    are the near-uniform softmax of cosines (see ``docs/losses.md``).

    The weights have no bias (a bias would break the [-1, 1] range) and
    their norm does not affect the logits; weight decay on them only changes
    the effective step size. ``pre_logits`` returns the raw, unnormalised
    feature of the last stage, as :class:`LinearClsHead` does. The cosines
    are computed in float32 even under fp16/bf16 autocast (see
    :func:`cosine_logits`), so the logits are float32.

    Args:
        num_classes (int): number of classes C.
        in_channels (int): feature dimension D.
        scale (float): multiplier of the cosines in :meth:`forward` (and so
            of what the loss receives). Defaults to 1.0 (for LDAM/LMF, which
            apply ``s`` themselves); about 30 for cross-entropy.
        score_scale (float, optional): inverse temperature of the softmax in
            :meth:`predict`: ``pred_score = softmax(score_scale * cos)``.
            None (default) uses ``scale``, i.e. the softmax of the logits,
            as every MMPretrain head does. Set it to the loss's ``s`` (30 in
            this project's ``-cos`` configs) so that ``pred_score`` is the
            distribution LDAM trains: with ``scale=1`` the plain softmax of
            cosines is nearly uniform, which leaves the predicted labels
            unchanged but makes calibration (ECE) meaningless and changes
            ROC AUC rankings.
        eps (float): lower bound of the norms in the normalisation (zero
            features give zero cosines, not NaN). Defaults to 1e-6.
        init_cfg (dict, optional): initialisation of the weight. Defaults to
            ``dict(type='Normal', layer='Linear', std=0.01)`` as
            :class:`LinearClsHead`; only the direction of the weight rows
            matters, and an isotropic normal gives uniformly random
            directions.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of :class:`ClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 scale: float = 1.0,
                 score_scale: Optional[float] = None,
                 eps: float = 1e-6,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01),
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0 or in_channels <= 0:
            raise ValueError('CosineClsHead: num_classes and in_channels must '
                             f'be positive, got num_classes={num_classes}, '
                             f'in_channels={in_channels}')
        if not scale > 0 or (score_scale is not None and not score_scale > 0):
            raise ValueError('CosineClsHead: scale and score_scale must be > 0'
                             f', got scale={scale}, score_scale={score_scale}')
        if not eps > 0:
            raise ValueError(f'CosineClsHead: eps must be > 0, got {eps}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.scale = float(scale)
        self.score_scale = None if score_scale is None else float(score_scale)
        self.eps = float(eps)
        # nn.Linear (no bias) so that init_cfg layer='Linear' applies and the
        # checkpoint key is head.fc.weight, as for LinearClsHead.
        self.fc = nn.Linear(in_channels, num_classes, bias=False)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The raw (unnormalised) feature of the last stage, ``(N, D)``."""
        return feats[-1]

    def cosines(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """``(N, C)`` cosine similarities in [-1, 1], float32."""
        features = self.pre_logits(feats)
        if features.dim() != 2 or features.size(1) != self.in_channels:
            raise ValueError(
                f'CosineClsHead: expected (N, {self.in_channels}) features '
                f'(add a GlobalAveragePooling neck), got shape '
                f'{tuple(features.shape)}')
        return cosine_logits(features, self.fc.weight, self.eps)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """``scale * cos``: ``(N, C)`` float32 logits."""
        cosines = self.cosines(feats)
        return cosines if self.scale == 1.0 else cosines * self.scale

    def predict(
        self,
        feats: Tuple[torch.Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Softmax scores (of ``score_scale * cos``) and argmax labels."""
        cosines = self.cosines(feats)
        scale = self.scale if self.score_scale is None else self.score_scale
        return self._get_predictions(cosines * scale, data_samples)

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, in_channels='
                f'{self.in_channels}, scale={self.scale}, score_scale='
                f'{self.score_scale}, eps={self.eps}')
