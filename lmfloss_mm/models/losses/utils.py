"""Helpers shared by the losses: class counts, class weights, targets and
reduction.

Conventions used by every loss in this package:

* ``cls_score`` is ``(N, C)`` logits.  Losses are always computed in float32
  with autocast disabled, whatever the input dtype, so fp16/bf16 training gives
  the same loss as fp32 training.
* A target is either hard, ``(N,)`` (or ``(N, 1)``) integer class indices, or
  soft, ``(N, C)`` non-negative floats (Mixup / CutMix / label smoothing)
  whose rows sum to 1 for the single-label (softmax) losses.
* The weight of a sample for class weighting is ``omega_i = w[y_i]`` for a
  hard target and ``omega_i = sum_j q_ij w_j`` for a soft target.
"""
import contextlib
import math
from typing import Optional, Union

import torch
from mmpretrain.models.losses import weight_reduce_loss

from lmfloss_mm.datasets.labels import \
    check_class_counts as validate_class_counts

#: The official LMF code's ``m_list`` has ``max_m = 0.5``.
OFFICIAL_MAX_M = 0.5

CLASS_WEIGHT_SCHEMES = ('margins', 'bwcce', 'effective_number',
                        'inverse_frequency')

#: Cui et al. (2019) and the LDAM-DRW code use ``beta = 0.9999``.
DEFAULT_CB_BETA = 0.9999


def check_class_counts(counts, num_classes: Optional[int] = None,
                       owner: str = 'loss') -> torch.Tensor:
    """Validate per-class training counts with the project's one rule
    (:func:`lmfloss_mm.datasets.labels.check_class_counts`: every class
    must have a sample) and return them as a float64 tensor."""
    return torch.as_tensor(
        validate_class_counts(counts, num_classes, owner=owner),
        dtype=torch.float64)


def ldam_margins(counts: torch.Tensor, max_m: float) -> torch.Tensor:
    """LDAM margins ``Delta_j = max_m * (n_min / n_j) ** (1/4)``.

    This equals ``C / n_j ** (1/4)`` with ``C`` chosen so that the rarest class
    gets exactly ``max_m`` (Cao et al., 2019).
    """
    counts = counts.double()
    return (max_m * (counts.min() / counts).pow(0.25)).float()


def effective_number_weights(counts: torch.Tensor,
                             beta: float = DEFAULT_CB_BETA) -> torch.Tensor:
    """Class-balanced weights ``(1 - beta) / (1 - beta ** n_j)`` (Cui et al.,
    CVPR 2019), normalised to sum to the number of classes C, as in the
    class-balanced-loss and LDAM-DRW code.  ``beta = 0`` gives all ones;
    ``beta -> 1`` tends to inverse-frequency weights.

    Raises:
        ValueError: if ``beta`` is not in ``[0, 1)``.
    """
    beta = float(beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f'beta must be in [0, 1), got {beta}')
    counts = counts.double()
    if beta == 0.0:
        weights = torch.ones_like(counts)
    else:  # 1 - beta ** n = -expm1(n log beta), exact for beta near 1
        weights = (1.0 - beta) / -torch.expm1(counts * math.log(beta))
    return (weights / weights.sum() * counts.numel()).float()


def class_weights_from_counts(scheme: str, counts: torch.Tensor,
                              max_m: float = OFFICIAL_MAX_M,
                              beta: float = DEFAULT_CB_BETA) -> torch.Tensor:
    """Per-class weights computed from training counts.

    Args:
        scheme (str): ``'margins'``: the LDAM margin vector
            ``max_m * (n_min / n_j) ** (1/4)``, which the official LMF code
            reuses as class weights (``max_m=0.5`` there).  ``'bwcce'``: the
            official code's balanced-weighted CE weights
            ``(1 - n_j / N) / (K - 1)`` (they sum to 1).
            ``'effective_number'``: ``(1 - beta) / (1 - beta ** n_j)``
            normalised to sum to C (Cui et al., 2019).
            ``'inverse_frequency'``:
            ``1 / n_j`` normalised to sum to C.
        counts (Tensor): training samples per class.
        max_m (float): largest margin, for ``'margins'``.
        beta (float): for ``'effective_number'``, in ``[0, 1)``.
    """
    if scheme == 'margins':
        return ldam_margins(counts, max_m)
    if scheme == 'bwcce':
        counts = counts.double()
        if counts.numel() < 2:
            raise ValueError("class_weight='bwcce' needs at least 2 classes")
        return ((1 - counts / counts.sum()) / (counts.numel() - 1)).float()
    if scheme == 'effective_number':
        return effective_number_weights(counts, beta)
    if scheme == 'inverse_frequency':
        inverse = 1.0 / counts.double()
        return (inverse / inverse.sum() * counts.numel()).float()
    raise ValueError(f'Unknown class_weight scheme {scheme!r}; use None, a '
                     f'list of C floats or one of {CLASS_WEIGHT_SCHEMES}')


def one_minus_p(log_p: torch.Tensor) -> torch.Tensor:
    """``1 - p`` from ``log p``: ``-expm1(log p)`` is exact near ``p = 1``;
    clamped at the smallest normal float so that ``(1 - p) ** gamma`` with
    ``gamma < 1`` has a zero, not NaN, gradient at ``p = 1``."""
    return (-torch.expm1(log_p)).clamp_min(torch.finfo(log_p.dtype).tiny)


def focusing_weight(base: torch.Tensor,
                    gamma: Union[float, torch.Tensor]) -> torch.Tensor:
    """The focusing (modulating) factor ``base ** gamma`` of the focal and
    asymmetric losses, element-wise, with ``0 ** 0 = 1``.

    ``base`` is ``1 - p_t``; it is clamped at the smallest normal float, so
    that no ``0 * inf`` appears in the gradient at ``p_t = 1`` (also for
    ``gamma < 1``).

    Args:
        base (Tensor): ``1 - p_t``, any shape.
        gamma (float | Tensor): The exponent, or exponents that broadcast
            against ``base`` (ASL's per-element ``gamma_t``).

    Returns:
        Tensor: ``base ** gamma``; ones for a float ``gamma == 0``.
    """
    if not torch.is_tensor(gamma) and gamma == 0:
        return torch.ones_like(base)
    return base.clamp_min(torch.finfo(base.dtype).tiny).pow(gamma)


def check_reduction(reduction: Optional[str]) -> None:
    if reduction not in (None, 'none', 'mean', 'sum'):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got "
                         f'{reduction!r}')


#: Largest accepted ``|row sum - 1|`` of a soft target given in float32 or
#: float64. MMPretrain's Mixup, CutMix and label smoothing build rows that
#: sum to 1 up to rounding: each entry's rounding error is relative to the
#: entry and the entries sum to 1, so a row sum moves by a few float32 units
#: (~1e-7), whatever the number of classes. The mistakes this catches are
#: off by far more: a multi-hot row (sum 2 or more), a Mixup weight applied
#: to one label only (sum ``lam``), smoothing that adds ``eps / C`` without
#: scaling the one-hot part (sum ``1 + eps``), percentages (sum 100).
SOFT_TARGET_SUM_TOL = 1e-3


def soft_target_sum_tolerance(dtype: torch.dtype) -> float:
    """:data:`SOFT_TARGET_SUM_TOL`, widened to twice the machine epsilon of
    ``dtype`` for targets given in half precision (float16: 2.0e-3,
    bfloat16: 1.6e-2), where rounding alone moves a row sum that far."""
    return max(SOFT_TARGET_SUM_TOL, 2 * torch.finfo(dtype).eps)


def prepare_target(label: torch.Tensor, logits: torch.Tensor,
                   owner: str = 'loss',
                   rows_sum_to_one: bool = False,
                   check_range: bool = True) -> torch.Tensor:
    """Check a hard or soft target against ``(N, C)`` logits.

    Args:
        label (Tensor): ``(N,)`` / ``(N, 1)`` class indices or ``(N, C)``
            soft targets.
        logits (Tensor): ``(N, C)`` logits.
        owner (str): name of the loss, for error messages.
        rows_sum_to_one (bool): require each soft-target row to be a
            probability distribution (sum 1 within
            :func:`soft_target_sum_tolerance`), as softmax losses do;
            multi-label losses leave it False.
        check_range (bool): check that class indices are in ``[0, C)``
            (:func:`check_label_range`). A loss whose every hard-label path
            gathers per-class values with ``index_select`` on the CPU, which
            refuses out-of-range indices itself, may skip it there and call
            :func:`check_label_range` when that raises ``IndexError``.

    Returns:
        Tensor: ``(N,)`` int64 class indices, or ``(N, C)`` soft targets in
        the dtype of ``logits``.
    """
    num_classes = logits.size(1)
    if label.size(0) != logits.size(0):
        raise ValueError(f'{owner}: {label.size(0)} targets for '
                         f'{logits.size(0)} rows of cls_score')
    if label.dtype is torch.int64 and label.dim() == 1:  # the common case
        if check_range:
            check_label_range(label, num_classes, owner)
        return label
    if label.dim() == 2 and label.size(1) == 1 and not label.is_floating_point():
        label = label.squeeze(1)
    if label.dim() == 1:
        if label.is_floating_point() or label.dtype == torch.bool:
            raise ValueError(f'{owner}: hard labels must be integer class '
                             f'indices, got dtype {label.dtype}')
        if check_range:
            check_label_range(label, num_classes, owner)
        return label if label.dtype == torch.int64 else label.long()
    if label.dim() == 2 and label.size(1) == num_classes:
        given_dtype = label.dtype if label.is_floating_point() else \
            torch.float32
        label = label.to(logits.dtype)
        if label.numel() and bool((label < 0).any()):
            raise ValueError(f'{owner}: soft targets must be non-negative')
        if rows_sum_to_one:
            check_soft_target_rows(
                label, soft_target_sum_tolerance(given_dtype), owner)
        return label
    raise ValueError(f'{owner}: target must be (N,) class indices or (N, '
                     f'{num_classes}) soft targets, got shape '
                     f'{tuple(label.shape)}')


def check_label_range(label: torch.Tensor, num_classes: int,
                      owner: str = 'loss') -> None:
    """Raise ``ValueError`` naming the ``(N,)`` class indices outside
    ``[0, num_classes)``."""
    low, high = torch.aminmax(label) if label.numel() else (0, 0)
    if int(low) < 0 or int(high) >= num_classes:
        bad = label[(label < 0) | (label >= num_classes)].unique()
        raise ValueError(
            f'{owner}: labels {bad.tolist()} are out of range for '
            f'{num_classes} classes (valid: 0..{num_classes - 1}). Check '
            "the dataset's classes and the head's num_classes.")


def check_soft_target_rows(target: torch.Tensor, tolerance: float,
                           owner: str = 'loss') -> None:
    """Raise ``ValueError`` naming the rows of an ``(N, C)`` soft target that
    do not sum to 1 within ``tolerance`` (NaN and Inf rows included)."""
    sums = target.double().sum(dim=1)
    close = (sums - 1).abs() <= tolerance  # False for NaN
    if bool(close.all()):
        return
    bad = torch.nonzero(~close).flatten()
    shown = bad[:10].tolist()
    raise ValueError(
        f'{owner}: soft targets must be class probabilities whose rows sum '
        f'to 1 (within {tolerance:.0e}), as MMPretrain\'s Mixup, CutMix and '
        f'label smoothing produce; {bad.numel()} of {target.size(0)} rows do '
        f'not: rows {shown} sum to '
        f'{[round(v, 6) for v in sums[bad[:10]].tolist()]}'
        f'{" (first 10 shown)" if bad.numel() > 10 else ""}. Normalise the '
        'rows, or use a multi-label loss (e.g. RobustAsymmetricLoss, '
        "CrossEntropyLoss(use_sigmoid=True)) for multi-hot targets.")


def target_class_weight(target: torch.Tensor,
                        class_weight: torch.Tensor) -> torch.Tensor:
    """``omega_i``: the class weight of each sample's target, ``(N,)``:
    ``w[y_i]`` for class indices, ``sum_j q_ij w_j`` for soft targets."""
    if target.dim() == 1:
        return class_weight.index_select(0, target)
    return target @ class_weight


def normalize_by_class_weight(loss: torch.Tensor, target: torch.Tensor,
                              class_weight: torch.Tensor) -> torch.Tensor:
    """Divide per-sample losses by the batch mean of ``omega_i``.

    Followed by a mean over the batch this gives PyTorch's class-weighted mean
    ``sum_i omega_i l_i / sum_i omega_i`` (``F.cross_entropy(weight=w)``).
    """
    return loss / target_class_weight(target, class_weight).mean().clamp_min(
        1e-12)


def sample_coefficient(logits: torch.Tensor, target: torch.Tensor,
                       class_weight: Optional[torch.Tensor],
                       scale: float = 1.0,
                       normalize: bool = False) -> torch.Tensor:
    """The coefficient of each hard-label sample's term in
    :func:`~.margin_focal_nll.margin_focal_nll`: ``scale * omega_i``
    (``scale`` for every sample when ``class_weight`` is None), with
    ``omega`` divided by its batch mean when ``normalize``.

    Args:
        logits (Tensor): ``(N, C)`` logits (dtype and device of the result).
        target (Tensor): ``(N,)`` class indices.
        class_weight (Tensor, optional): ``(C,)`` class weights.
        scale (float): Term weight. Defaults to 1.0.
        normalize (bool): PyTorch's class-weighted mean. Defaults to False.

    Returns:
        Tensor: ``(N,)`` coefficients.
    """
    if class_weight is None:
        return logits.new_full((target.size(0), ), scale)
    omega = target_class_weight(target, class_weight)
    if normalize:
        return omega * (scale / omega.mean().clamp_min(1e-12))
    return omega if scale == 1 else omega * scale


def total_scale(reduction: str, avg_factor: Optional[float],
                target: torch.Tensor) -> Optional[float]:
    """The factor ``f`` with ``reduce_loss(l, None, reduction, avg_factor) ==
    f * l.sum()`` for the per-sample losses ``l`` of ``(N,)`` class indices
    (``1 / N`` or ``1 / avg_factor`` for ``'mean'``, 1 for ``'sum'``), or
    None where the reduction is not such a sum: ``'none'``, soft targets, an
    empty batch, a tensor or zero ``avg_factor``, and ``'sum'`` with
    ``avg_factor`` (which :func:`reduce_loss` refuses)."""
    if target.dim() != 1 or target.numel() == 0:
        return None
    if reduction == 'mean':
        if avg_factor is None:
            return 1.0 / target.numel()
        if torch.is_tensor(avg_factor) or not avg_factor:
            return None
        return 1.0 / avg_factor
    if reduction == 'sum' and avg_factor is None:
        return 1.0
    return None


def soft_target_nll(log_prob: torch.Tensor, target: torch.Tensor,
                    class_weight: Optional[torch.Tensor] = None,
                    modulation: Optional[torch.Tensor] = None
                    ) -> torch.Tensor:
    """Per-sample loss of soft targets, the expectation of the hard loss:
    ``-sum_j q_ij w_j m_ij log p_ij``.

    Args:
        log_prob (Tensor): ``(N, C)`` log-probabilities ``log p``.
        target (Tensor): ``(N, C)`` soft targets ``q``.
        class_weight (Tensor, optional): ``(C,)`` (or ``(N, C)``) weights
            ``w``; None for none.
        modulation (Tensor, optional): ``(N, C)`` factors ``m`` (the focal
            loss's ``(1 - p) ** gamma``); None for none.

    Returns:
        Tensor: ``(N,)`` losses.
    """
    coefficient = target if class_weight is None else target * class_weight
    if modulation is not None:
        coefficient = coefficient * modulation
    return -(coefficient * log_prob).sum(dim=1)


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


def float32_logits(cls_score: torch.Tensor) -> torch.Tensor:
    """Logits in at least float32: half and bfloat16 are upcast, float64 is
    kept (so ``gradcheck`` can run in double precision)."""
    if cls_score.dim() != 2:
        raise ValueError('cls_score must be (N, C) logits, got shape '
                         f'{tuple(cls_score.shape)}')
    if cls_score.dtype in (torch.float32, torch.float64):
        return cls_score
    return cls_score.float()


def autocast_disabled(tensor: torch.Tensor):
    """A context that switches autocast off on the tensor's device type (a
    no-op context when autocast is not on)."""
    device_type = tensor.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return _NO_CONTEXT


#: A reusable no-op context (:func:`autocast_disabled` runs every step).
_NO_CONTEXT = contextlib.nullcontext()


__all__ = [
    'check_class_counts', 'ldam_margins', 'class_weights_from_counts',
    'effective_number_weights',
    'prepare_target', 'check_label_range', 'check_soft_target_rows', 'soft_target_sum_tolerance',
    'SOFT_TARGET_SUM_TOL', 'target_class_weight',
    'normalize_by_class_weight', 'sample_coefficient',
    'total_scale', 'soft_target_nll',
    'reduce_loss', 'check_reduction', 'float32_logits', 'autocast_disabled',
    'one_minus_p', 'focusing_weight'
]
