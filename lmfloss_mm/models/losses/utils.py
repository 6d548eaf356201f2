"""Helpers shared by the losses: class counts, class weights, targets and
reduction.

Conventions used by every loss in this package:

* ``cls_score`` is ``(N, C)`` logits.  Losses are always computed in float32
  with autocast disabled, whatever the input dtype, so fp16/bf16 training gives
  the same loss as fp32 training.
* A target is either hard, ``(N,)`` (or ``(N, 1)``) integer class indices, or
  soft, ``(N, C)`` non-negative floats (Mixup / CutMix / label smoothing).
* The weight of a sample for class weighting is ``omega_i = w[y_i]`` for a
  hard target and ``omega_i = sum_j q_ij w_j`` for a soft target.
"""
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmpretrain.models.losses import weight_reduce_loss

#: The official LMF code's ``m_list`` has ``max_m = 0.5``.
OFFICIAL_MAX_M = 0.5

CLASS_WEIGHT_SCHEMES = ('margins', 'bwcce')


def check_class_counts(counts, num_classes: Optional[int] = None,
                       owner: str = 'loss') -> torch.Tensor:
    """Validate per-class training counts and return them as a float64 tensor.

    Raises:
        ValueError: if the counts are not a 1-D sequence of non-negative
            integers, if a class has no sample, or if their number differs
            from ``num_classes``.
    """
    if isinstance(counts, str):
        raise ValueError(f'{owner}: class counts must be a list of integers or '
                         f"'auto', got the string {counts!r}")
    array = np.asarray(counts.cpu() if torch.is_tensor(counts) else counts)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f'{owner}: class counts must be a non-empty 1-D list, '
                         f'got shape {array.shape}')
    if not np.all(np.isfinite(array.astype(float))) or \
            np.any(array.astype(float) != np.round(array.astype(float))):
        raise ValueError(f'{owner}: class counts must be integers, got '
                         f'{array.tolist()}')
    negative = np.flatnonzero(array < 0)
    if negative.size:
        raise ValueError(f'{owner}: class counts must be >= 0, got negative '
                         f'counts for class indices {negative.tolist()}: '
                         f'{array.tolist()}')
    empty = np.flatnonzero(array == 0)
    if empty.size:
        raise ValueError(
            f'{owner}: class indices {empty.tolist()} have 0 training samples '
            f'(counts {array.tolist()}). LDAM margins and count-based class '
            'weights need every class to occur in the training set: remove '
            'the empty classes from the dataset or fix the split.')
    if num_classes is not None and array.size != num_classes:
        raise ValueError(f'{owner}: got {array.size} class counts but the '
                         f'model has {num_classes} classes; counts: '
                         f'{array.tolist()}')
    return torch.as_tensor(array.astype(np.float64))


def ldam_margins(counts: torch.Tensor, max_m: float) -> torch.Tensor:
    """LDAM margins ``Delta_j = max_m * (n_min / n_j) ** (1/4)``.

    This equals ``C / n_j ** (1/4)`` with ``C`` chosen so that the rarest class
    gets exactly ``max_m`` (Cao et al., 2019).
    """
    counts = counts.double()
    return (max_m * (counts.min() / counts).pow(0.25)).float()


def class_weights_from_counts(scheme: str, counts: torch.Tensor,
                              max_m: float = OFFICIAL_MAX_M) -> torch.Tensor:
    """Per-class weights computed from training counts.

    Args:
        scheme (str): ``'margins'``: the LDAM margin vector
            ``max_m * (n_min / n_j) ** (1/4)``, which the official LMF code
            reuses as class weights (``max_m=0.5`` there).  ``'bwcce'``: the
            official code's balanced-weighted CE weights
            ``(1 - n_j / N) / (K - 1)``.
        counts (Tensor): training samples per class.
        max_m (float): largest margin, for ``'margins'``.
    """
    if scheme == 'margins':
        return ldam_margins(counts, max_m)
    if scheme == 'bwcce':
        counts = counts.double()
        if counts.numel() < 2:
            raise ValueError("class_weight='bwcce' needs at least 2 classes")
        return ((1 - counts / counts.sum()) / (counts.numel() - 1)).float()
    raise ValueError(f'Unknown class_weight scheme {scheme!r}; use None, a '
                     f'list of C floats or one of {CLASS_WEIGHT_SCHEMES}')


def check_reduction(reduction: Optional[str]) -> None:
    if reduction not in (None, 'none', 'mean', 'sum'):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got "
                         f'{reduction!r}')


def prepare_target(label: torch.Tensor, num_classes: int,
                   owner: str = 'loss') -> torch.Tensor:
    """Check a hard or soft target against ``num_classes``.

    Returns:
        Tensor: ``(N,)`` int64 class indices, or ``(N, C)`` float32 soft
        targets.
    """
    if label.dim() == 2 and label.size(1) == 1 and not label.is_floating_point():
        label = label.squeeze(1)
    if label.dim() == 1:
        if label.is_floating_point() or label.dtype == torch.bool:
            raise ValueError(f'{owner}: hard labels must be integer class '
                             f'indices, got dtype {label.dtype}')
        if label.numel() and (int(label.min()) < 0
                              or int(label.max()) >= num_classes):
            bad = label[(label < 0) | (label >= num_classes)].unique()
            raise ValueError(
                f'{owner}: labels {bad.tolist()} are out of range for '
                f'{num_classes} classes (valid: 0..{num_classes - 1}). Check '
                "the dataset's classes and the head's num_classes.")
        return label.long()
    if label.dim() == 2 and label.size(1) == num_classes:
        label = label.float()
        if label.numel() and bool((label < 0).any()):
            raise ValueError(f'{owner}: soft targets must be non-negative')
        return label
    raise ValueError(f'{owner}: target must be (N,) class indices or (N, '
                     f'{num_classes}) soft targets, got shape '
                     f'{tuple(label.shape)}')


def target_class_weight(target: torch.Tensor,
                        class_weight: torch.Tensor) -> torch.Tensor:
    """``omega_i``: the class weight of each sample's target, ``(N,)``."""
    if target.dim() == 1:
        return class_weight[target]
    return target @ class_weight


def normalize_by_class_weight(loss: torch.Tensor, target: torch.Tensor,
                              class_weight: torch.Tensor) -> torch.Tensor:
    """Divide per-sample losses by the batch mean of ``omega_i``.

    Followed by a mean over the batch this gives PyTorch's class-weighted mean
    ``sum_i omega_i l_i / sum_i omega_i`` (``F.cross_entropy(weight=w)``).
    """
    return loss / target_class_weight(target, class_weight).mean().clamp_min(
        1e-12)


def reduce_loss(loss: torch.Tensor,
                weight: Optional[torch.Tensor],
                reduction: str,
                avg_factor: Optional[float]) -> torch.Tensor:
    """MMPretrain's ``weight_reduce_loss`` with a shape check on ``weight``."""
    if weight is not None:
        weight = weight.float()
        if weight.dim() > 1:
            weight = weight.reshape(-1)
        if weight.shape != loss.shape:
            raise ValueError(f'sample weight must have shape '
                             f'{tuple(loss.shape)}, got {tuple(weight.shape)}')
    return weight_reduce_loss(loss, weight=weight, reduction=reduction,
                              avg_factor=avg_factor)


class ClassCountsMixin:
    """Class counts given in the config, or ``'auto'``.

    With ``cls_num_list='auto'`` the counts are filled in before the first
    iteration by :class:`lmfloss_mm.engine.SetClassCountsHook`, which calls
    :meth:`set_class_counts` on every module whose ``auto_class_counts`` is
    True.  Derived tensors are non-persistent buffers: they follow
    ``model.to(device)`` and never enter checkpoints, so a checkpoint loads
    whatever the counts were.
    """

    def _init_class_counts(self, cls_num_list, class_weight) -> None:
        if isinstance(cls_num_list, str) and cls_num_list != 'auto':
            raise ValueError(f"{self._name}: cls_num_list must be a list of "
                             f"ints, 'auto' or None, got {cls_num_list!r}")
        if isinstance(class_weight, str) and \
                class_weight not in CLASS_WEIGHT_SCHEMES:
            raise ValueError(f'{self._name}: unknown class_weight '
                             f'{class_weight!r}; use None, a list of floats or '
                             f'one of {CLASS_WEIGHT_SCHEMES}')
        if self._needs_counts(class_weight) and cls_num_list is None:
            raise ValueError(
                f"{self._name}: {self._counts_reason(class_weight)} needs the "
                "training class counts: set cls_num_list='auto' (filled by "
                "SetClassCountsHook) or cls_num_list=[n_0, n_1, ...]")
        self.auto_class_counts = cls_num_list == 'auto'
        self.class_weight_spec = class_weight
        self.register_buffer('class_counts', None, persistent=False)
        self.register_buffer('class_weight', None, persistent=False)
        if class_weight is not None and not isinstance(class_weight, str):
            weights = torch.as_tensor(class_weight, dtype=torch.float32)
            if weights.dim() != 1 or bool((weights < 0).any()) or \
                    not bool(torch.isfinite(weights).all()):
                raise ValueError(f'{self._name}: class_weight must be a 1-D '
                                 f'list of finite non-negative floats, got '
                                 f'{class_weight!r}')
            self.class_weight = weights
        if cls_num_list is not None and not self.auto_class_counts:
            self.set_class_counts(cls_num_list)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _needs_counts(self, class_weight) -> bool:
        return isinstance(class_weight, str)

    def _counts_reason(self, class_weight) -> str:
        return f'class_weight={class_weight!r}'

    def set_class_counts(self, counts: Union[Sequence[int], torch.Tensor]):
        """Set the training class counts and recompute what depends on them."""
        num_classes = None if self.class_weight is None or isinstance(
            self.class_weight_spec, str) else self.class_weight.numel()
        counts = check_class_counts(counts, num_classes, owner=self._name)
        device = self.class_counts.device if self.class_counts is not None \
            else torch.device('cpu')
        self.class_counts = counts.to(device)
        if isinstance(self.class_weight_spec, str):
            self.class_weight = class_weights_from_counts(
                self.class_weight_spec, counts,
                **self._scheme_kwargs()).to(device)
        self._counts_changed(counts)

    def _scheme_kwargs(self) -> dict:
        return {}

    def _counts_changed(self, counts: torch.Tensor) -> None:
        """Hook for subclasses that derive more buffers from the counts."""

    def _check_ready(self, num_classes: int) -> None:
        """Raise a clear error if counts are missing or of the wrong size."""
        if self.class_counts is None and (
                self.auto_class_counts or isinstance(self.class_weight_spec,
                                                     str)
                or self._needs_counts(self.class_weight_spec)):
            raise RuntimeError(
                f"{self._name} was built with cls_num_list='auto' but no class "
                'counts were set. Add dict(type=\'SetClassCountsHook\') to '
                "custom_hooks (lmfloss_mm's configs do), or give "
                'cls_num_list=[n_0, n_1, ...] explicitly.')
        for name in ('class_counts', 'class_weight'):
            value = getattr(self, name)
            if value is not None and value.numel() != num_classes:
                raise ValueError(
                    f'{self._name}: {name} has {value.numel()} entries but '
                    f'cls_score has {num_classes} classes. The counts must '
                    "come from the same dataset as the head's num_classes.")

    def _class_weight_on(self, device: torch.device) -> Optional[torch.Tensor]:
        if self.class_weight is None:
            return None
        return self.class_weight.to(device=device, dtype=torch.float32)


def float32_logits(cls_score: torch.Tensor) -> torch.Tensor:
    """Logits as float32 (losses are computed in float32 under autocast)."""
    if cls_score.dim() != 2:
        raise ValueError('cls_score must be (N, C) logits, got shape '
                         f'{tuple(cls_score.shape)}')
    return cls_score.float()


def autocast_disabled(tensor: torch.Tensor):
    """A context that switches autocast off on the tensor's device type."""
    return torch.autocast(device_type=tensor.device.type, enabled=False)


__all__ = [
    'check_class_counts', 'ldam_margins', 'class_weights_from_counts',
    'prepare_target', 'target_class_weight', 'normalize_by_class_weight', 'reduce_loss', 'check_reduction',
    'ClassCountsMixin', 'float32_logits', 'autocast_disabled'
]
