"""MaxNorm constraint on the classifier weights (weight balancing)."""
import math
from numbers import Real
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS

from .second_stage_hook import unwrap_model

#: Key of the thresholds in ``checkpoint['meta']``.
META_KEY = 'max_norm_thresholds'


def max_norm_project_(weight: torch.Tensor,
                      max_norms: torch.Tensor) -> torch.Tensor:
    r"""Project each row of ``weight`` into its L2 ball, in place:
    :math:`w_j \leftarrow w_j \min(1, \delta_j / \|w_j\|_2)`.

    Args:
        weight (Tensor): ``(C, D)`` weights, modified in place.
        max_norms (Tensor): ``(C,)`` radii :math:`\delta_j > 0`.

    Returns:
        Tensor: ``weight``.
    """
    with torch.no_grad():
        norms = weight.norm(p=2, dim=1)
        scale = (max_norms.to(norms) / norms.clamp_min(
            torch.finfo(norms.dtype).tiny)).clamp(max=1.0)
        weight.mul_(scale.unsqueeze(1).to(weight.dtype))
    return weight


def ratio_threshold(norms: torch.Tensor, thresh: float) -> float:
    """The weight-balancing code's radius: ``min + thresh * (max - min)`` of
    the row norms."""
    low, high = float(norms.min()), float(norms.max())
    return low + thresh * (high - low)


@HOOKS.register_module()
class MaxNormHook(Hook):
    r"""Keep every class's weight vector inside a ball: the MaxNorm
    constraint of weight balancing (Alshammari et al., "Long-Tailed
    Recognition via Weight Balancing", CVPR 2022), applied by projected
    gradient descent.

    After every training iteration (after the optimizer step), row ``j`` of
    the classifier weight becomes

    .. math::

        w_j \leftarrow w_j \cdot \min\!\left(1,
            \frac{\delta_j}{\|w_j\|_2}\right),

    so rows longer than :math:`\delta_j` are scaled back onto the sphere of
    radius :math:`\delta_j` and shorter rows are unchanged. The bias is not
    constrained (as in the authors' ``MaxNorm_via_PGD``, whose bias
    threshold is infinite).

    The radii are either given (``max_norm``: one radius for all classes or
    one per class), or computed once, when training starts, from the row
    norms of the classifier the run begins with (the stage-1 classifier of a
    second stage): :math:`\delta = \min_j \|w_j\| + \mathrm{thresh}\,
    (\max_j \|w_j\| - \min_j \|w_j\|)`, one radius for all classes, as the
    authors' code (``thresh=0.1`` in their second stage). Computed radii are
    written to the checkpoint (``meta['max_norm_thresholds']``) and read
    back on ``--resume``, so a resumed run keeps the radii of its start
    instead of recomputing them from already projected weights (radii given
    as ``max_norm`` always come from the config).

    Args:
        max_norm (float | Sequence[float], optional): Radius
            :math:`\delta > 0` of every class, or C radii
            :math:`\delta_j > 0`. Exclusive with ``thresh``.
        thresh (float, optional): Fraction in ``[0, 1]`` of the range of the
            initial row norms (see above). Exclusive with ``max_norm``;
            used (0.1) when neither is given.
        layer (str): Name of the classifier layer in the model (its
            ``weight`` is projected). Defaults to ``'head.fc'``.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) saves the weights

    def __init__(self,
                 max_norm: Optional[Union[float, Sequence[float]]] = None,
                 thresh: Optional[float] = None,
                 layer: str = 'head.fc'):
        if max_norm is not None and thresh is not None:
            raise ValueError('MaxNormHook: give max_norm (radii) or thresh '
                             '(a fraction of the initial norm range), not '
                             'both')
        if max_norm is None and thresh is None:
            thresh = 0.1
        if thresh is not None and (isinstance(thresh, bool) or not isinstance(
                thresh, Real) or not 0 <= thresh <= 1):
            raise ValueError(f'MaxNormHook: thresh must be in [0, 1], got '
                             f'{thresh!r}')
        self.thresh = None if thresh is None else float(thresh)
        self.max_norm = None if max_norm is None else self._check_radii(
            max_norm)
        self.layer = layer
        #: the radii in use, ``(C,)`` float64 (set in before_train)
        self.max_norms: Optional[torch.Tensor] = None

    @staticmethod
    def _check_radii(max_norm) -> List[float]:
        values = [max_norm] if isinstance(max_norm, Real) else list(max_norm)
        if not values or any(
                isinstance(v, bool) or not isinstance(v, Real)
                or not math.isfinite(v) or v <= 0 for v in values):
            raise ValueError('MaxNormHook: max_norm must be a positive '
                             'number or a list of positive numbers (one per '
                             f'class), got {max_norm!r}')
        return [float(v) for v in values]

    def _weight(self, runner) -> torch.Tensor:
        model = unwrap_model(runner)
        try:
            layer = model.get_submodule(self.layer)
        except AttributeError:
            raise ValueError(f'MaxNormHook: the model has no layer '
                             f'{self.layer!r}; set layer= to the classifier '
                             'layer (e.g. head.fc)') from None
        weight = getattr(layer, 'weight', None)
        if not isinstance(weight, nn.Parameter) or weight.dim() != 2:
            raise ValueError(f'MaxNormHook: {self.layer} must have a (C, D) '
                             'weight, one row per class')
        return weight

    def before_train(self, runner) -> None:
        weight = self._weight(runner)
        num_classes = weight.size(0)
        if self.max_norms is not None:  # restored from the checkpoint
            source = 'the checkpoint'
        elif self.max_norm is not None:
            radii = self.max_norm * num_classes if len(
                self.max_norm) == 1 else self.max_norm
            self.max_norms = torch.tensor(radii, dtype=torch.float64)
            source = 'max_norm'
        else:
            norms = weight.detach().double().norm(p=2, dim=1).cpu()
            self.max_norms = torch.full(
                (num_classes, ), ratio_threshold(norms, self.thresh),
                dtype=torch.float64)
            source = (f'thresh={self.thresh} of the initial row norms '
                      f'[{float(norms.min()):.4g}, {float(norms.max()):.4g}]')
        if self.max_norms.numel() != num_classes:
            raise ValueError(f'MaxNormHook: {self.max_norms.numel()} radii '
                             f'for {num_classes} classes of {self.layer}')
        values = ', '.join(f'{v:.4g}' for v in self.max_norms.tolist())
        print_log(f'MaxNormHook: rows of {self.layer}.weight are kept within '
                  f'L2 norm [{values}] (from {source}).', logger='current')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        max_norm_project_(self._weight(runner), self.max_norms)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.max_norms is not None:
            checkpoint.setdefault('meta', {})[META_KEY] = \
                self.max_norms.tolist()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = (checkpoint.get('meta') or {}).get(META_KEY)
        if saved is not None and self.max_norm is None:
            self.max_norms = torch.tensor(saved, dtype=torch.float64)
