"""tau-normalised linear classifier (Kang et al., ICLR 2020)."""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS


def tau_normalized_weight(weight: torch.Tensor, tau: float,
                          eps: float = 1e-12) -> torch.Tensor:
    r"""Rows of ``weight`` divided by their L2 norm to the power ``tau``:
    :math:`w_j / \max(\|w_j\|_2, \mathrm{eps})^\tau`.

    Args:
        weight (Tensor): ``(C, D)`` classifier weights.
        tau (float): Exponent, ``>= 0`` (0 returns ``weight`` unchanged).
        eps (float): Lower bound of the norms. Defaults to 1e-12.
    """
    if tau == 0:
        return weight
    norms = weight.norm(p=2, dim=1, keepdim=True).clamp_min(eps)
    return weight / norms.pow(tau)


def check_tau(tau, owner: str = 'TauNormClsHead') -> float:
    """``tau`` as a float; ``ValueError`` unless it is finite and >= 0."""
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or \
            not math.isfinite(tau) or tau < 0:
        raise ValueError(f'{owner}: tau must be a finite number >= 0, got '
                         f'{tau!r}')
    return float(tau)


@MODELS.register_module()
class TauNormClsHead(LinearClsHead):
    r"""A linear head whose class weight vectors are divided by their norm to
    the power :math:`\tau`: tau-normalisation (Kang et al., ICLR 2020).

    .. math::

        z_j = \frac{w_j^\top x}{\|w_j\|_2^{\tau}}

    Training with instance-balanced sampling makes the weight vectors of
    frequent classes longer; tau-normalisation shrinks that bias without any
    training. ``tau = 1`` gives every class a unit-norm weight vector (the
    logits are then ``||x|| cos``), ``tau = 0`` keeps the stage-1 weights.
    As in the authors' ``tau_norm.py`` (``facebookresearch/
    classifier-balancing``) the bias is dropped for every ``tau``: the
    stage-1 ``fc.bias`` is loaded with the checkpoint and kept, but unused.

    ``tau`` is a persistent buffer (checkpoint key ``head.tau``), so a
    checkpoint saved after the validation sweep of
    :class:`~lmfloss_mm.engine.loops.TauNormSweepLoop` evaluates at the
    chosen ``tau`` with ``tools/test.py``. A stage-1 checkpoint has no
    ``head.tau``; loaded with ``load_from`` it keeps the configured value.

    Args:
        num_classes (int): Number of classes C.
        in_channels (int): Feature dimension.
        tau (float): Exponent, ``>= 0``. Defaults to 1.0.
        eps (float): Lower bound of the weight norms (a zero row stays zero
            instead of becoming NaN). Defaults to 1e-12.
        init_cfg (dict, optional): Initialisation of ``fc``. Defaults to
            ``dict(type='Normal', layer='Linear', std=0.01)``, as
            :class:`LinearClsHead`.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of :class:`ClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 tau: float = 1.0,
                 eps: float = 1e-12,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01),
                 **kwargs):
        super().__init__(num_classes, in_channels, init_cfg=init_cfg,
                         **kwargs)
        if not eps > 0:
            raise ValueError(f'TauNormClsHead: eps must be > 0, got {eps}')
        self.eps = float(eps)
        # float64, so that the checkpoint keeps a tau such as 0.3 exactly
        self.register_buffer('tau',
                             torch.tensor(check_tau(tau), dtype=torch.float64))

    def set_tau(self, tau: float) -> None:
        """Use exponent ``tau`` from now on (``ValueError`` unless finite
        and >= 0)."""
        self.tau.fill_(check_tau(tau))

    def normalized_weight(self) -> torch.Tensor:
        """``(C, D)`` tau-normalised weights."""
        return tau_normalized_weight(self.fc.weight, float(self.tau),
                                     self.eps)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """``W_tau x`` (no bias): ``(N, C)`` logits."""
        return F.linear(self.pre_logits(feats), self.normalized_weight())

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, in_channels='
                f'{self.in_channels}, tau={float(self.tau)}, eps={self.eps}')
