"""Base classes of the losses: MMPretrain's loss contract
(:class:`MMPretrainLoss`) and the losses that depend on training class
counts (:class:`ClassCountsLoss`)."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from .class_term_table import ClassTermTable, TermSpec
from .utils import (CLASS_WEIGHT_SCHEMES, autocast_disabled,
                    check_class_counts, check_label_range, check_reduction,
                    class_weights_from_counts, float32_logits,
                    normalize_by_class_weight, prepare_target, reduce_loss,
                    total_scale)


class MMPretrainLoss(nn.Module):
    """MMPretrain's loss contract, around the subclass's
    :meth:`reduced_loss`: ``forward(cls_score, label, weight=None,
    avg_factor=None, reduction_override=None, **kwargs)``, ``reduction`` and
    ``loss_weight``; computation in (at least) float32 with autocast
    disabled (float64 input stays float64), whatever the input dtype.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplier of the loss.
    """

    def __init__(self, reduction: str, loss_weight: float):
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction
        self.loss_weight = loss_weight

    def reduced_loss(self, logits: torch.Tensor, label: torch.Tensor,
                     weight: Optional[torch.Tensor], reduction: str,
                     avg_factor: Optional[float]) -> torch.Tensor:
        """The loss of float logits, reduced, before ``loss_weight``
        (subclasses)."""
        raise NotImplementedError

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            cls_score (Tensor): ``(N, C)`` logits.
            label (Tensor): The targets (see the loss class).
            weight (Tensor, optional): Sample weights (see the loss class).
            avg_factor (float, optional): Denominator of ``'mean'``
                (MMPretrain's heads pass the batch size).
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The scalar loss, or the unreduced losses for
            ``'none'``.
        """
        check_reduction(reduction_override)
        reduction = reduction_override or self.reduction
        with autocast_disabled(cls_score):
            loss = self.reduced_loss(float32_logits(cls_score), label, weight,
                                     reduction, avg_factor)
        return loss if self.loss_weight == 1 else self.loss_weight * loss


class ClassCountsLoss(MMPretrainLoss):
    """A single-label classification loss with class counts and class
    weights.

    Subclasses implement :meth:`per_sample_loss` and, when the loss is a
    weighted sum of margin and focal terms, :meth:`hard_label_specs` (the
    fused hard-label path); this class implements MMPretrain's loss contract
    around them (:class:`MMPretrainLoss`), with hard ``(N,)`` and soft
    ``(N, C)`` targets and ``(N,)`` sample weights.

    Class counts are given in the config or are ``'auto'``: then
    :class:`lmfloss_mm.engine.SetClassCountsHook` calls
    :meth:`set_class_counts` with the training set's counts before the first
    iteration (it looks for modules whose ``auto_class_counts`` is True).
    Tensors derived from the counts are non-persistent buffers: they follow
    ``model.to(device)`` and never enter checkpoints.

    Args:
        cls_num_list (list[int] | str, optional): training samples per class,
            ``'auto'``, or None.
        class_weight (list[float] | str, optional): None, C floats, or a
            scheme computed from the counts (``'margins'``, ``'bwcce'``).
        normalize_class_weight (bool): divide per-sample losses by the batch
            mean of the target class weights (PyTorch's weighted mean).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): multiplier of the loss.
    """

    #: Whether the loss needs counts even without a class-weight scheme.
    requires_class_counts = False

    def __init__(self,
                 cls_num_list: Optional[Union[Sequence[int], str]],
                 class_weight: Optional[Union[Sequence[float], str]],
                 normalize_class_weight: bool,
                 reduction: str,
                 loss_weight: float):
        super().__init__(reduction, loss_weight)
        self.normalize_class_weight = normalize_class_weight
        self._fused_hard_labels = (type(self).hard_label_specs
                                   is not ClassCountsLoss.hard_label_specs)
        self._init_class_counts(cls_num_list, class_weight)

    # -- class counts ----------------------------------------------------
    def _init_class_counts(self, cls_num_list, class_weight) -> None:
        name = type(self).__name__
        if isinstance(cls_num_list, str) and cls_num_list != 'auto':
            raise ValueError(f"{name}: cls_num_list must be a list of ints, "
                             f"'auto' or None, got {cls_num_list!r}")
        if isinstance(class_weight, str) and \
                class_weight not in CLASS_WEIGHT_SCHEMES:
            raise ValueError(f'{name}: unknown class_weight {class_weight!r};'
                             ' use None, a list of floats or one of '
                             f'{CLASS_WEIGHT_SCHEMES}')
        if cls_num_list is None and (self.requires_class_counts
                                     or isinstance(class_weight, str)):
            what = 'the LDAM margins' if self.requires_class_counts else \
                f'class_weight={class_weight!r}'
            raise ValueError(
                f"{name}: {what} need the training class counts: set "
                "cls_num_list='auto' (filled by SetClassCountsHook) or "
                'cls_num_list=[n_0, n_1, ...]')
        self.auto_class_counts = cls_num_list == 'auto'
        self.class_weight_spec = class_weight
        self.register_buffer('class_counts', None, persistent=False)
        self.register_buffer('class_weight', None, persistent=False)
        if class_weight is not None and not isinstance(class_weight, str):
            weights = torch.as_tensor(class_weight, dtype=torch.float32)
            if weights.dim() != 1 or bool((weights < 0).any()) or \
                    not bool(torch.isfinite(weights).all()):
                raise ValueError(f'{name}: class_weight must be a 1-D list of '
                                 'finite non-negative floats, got '
                                 f'{class_weight!r}')
            self.class_weight = weights
        if cls_num_list is not None and not self.auto_class_counts:
            self.set_class_counts(cls_num_list)

    def set_class_counts(self, counts: Union[Sequence[int], torch.Tensor]):
        """Set the training class counts and recompute what depends on them.

        Raises:
            ValueError: for negative or zero counts, or a number of counts
                different from an explicit ``class_weight``'s.
        """
        explicit_weight = self.class_weight is not None and not isinstance(
            self.class_weight_spec, str)
        counts = check_class_counts(
            counts, self.class_weight.numel() if explicit_weight else None,
            owner=type(self).__name__)
        device = self.class_counts.device if self.class_counts is not None \
            else torch.device('cpu')
        self.class_counts = counts.to(device)
        if isinstance(self.class_weight_spec, str):
            self.class_weight = class_weights_from_counts(
                self.class_weight_spec, counts,
                **self._scheme_kwargs()).to(device)
        self._counts_changed(counts)

    def set_class_weight(self,
                         weight: Optional[Union[Sequence[float],
                                                torch.Tensor]],
                         device: Optional[Union[str, torch.device]] = None
                         ) -> None:
        """Replace the class weights at run time (e.g. deferred re-weighting).

        The weights become an explicit list: a later :meth:`set_class_counts`
        no longer recomputes the configured ``class_weight`` scheme.

        Args:
            weight (list[float] | Tensor | None): C finite non-negative
                floats, or None for an unweighted loss.
            device (str | torch.device, optional): where to put the buffer
                when the loss holds no buffer yet; otherwise the device of the
                existing buffers is kept (they follow ``model.to(device)``).
        """
        name = type(self).__name__
        if weight is None:
            self.class_weight = None
            self.class_weight_spec = None
            return
        weights = torch.as_tensor(
            weight.detach().cpu() if torch.is_tensor(weight) else weight,
            dtype=torch.float64)
        if weights.dim() != 1 or weights.numel() == 0 or bool(
                (weights < 0).any()) or not bool(
                    torch.isfinite(weights).all()):
            raise ValueError(f'{name}: class weights must be a 1-D list of '
                             f'finite non-negative floats, got {weight!r}')
        if self.class_counts is not None and \
                weights.numel() != self.class_counts.numel():
            raise ValueError(
                f'{name}: got {weights.numel()} class weights for '
                f'{self.class_counts.numel()} classes')
        existing = next(self.buffers(), None)
        if existing is not None:
            device = existing.device
        dtype = self.class_weight.dtype if self.class_weight is not None \
            else torch.float32
        self.class_weight = weights.to(device=device or 'cpu', dtype=dtype)
        self.class_weight_spec = weights.tolist()

    def _scheme_kwargs(self) -> dict:
        """Extra arguments of :func:`class_weights_from_counts`."""
        return {}

    def _counts_changed(self, counts: torch.Tensor) -> None:
        """Recompute buffers derived from the counts (subclasses)."""

    def _check_ready(self, num_classes: int) -> None:
        # buffers are read from _buffers: nn.Module.__getattr__ is the slow
        # path, and this runs every step
        buffers = self._buffers
        if buffers['class_counts'] is None and (
                self.auto_class_counts or self.requires_class_counts):
            raise RuntimeError(
                f"{type(self).__name__} was built with cls_num_list='auto' "
                'but no class counts were set. Add '
                "dict(type='SetClassCountsHook') to custom_hooks (lmfloss_mm's"
                " configs do), or give cls_num_list=[n_0, n_1, ...] "
                'explicitly.')
        for buffer in ('class_counts', 'class_weight'):
            value = buffers[buffer]
            if value is not None and value.numel() != num_classes:
                raise ValueError(
                    f'{type(self).__name__}: {buffer} has {value.numel()} '
                    f'entries but cls_score has {num_classes} classes. The '
                    'counts must come from the same dataset as the head\'s '
                    'num_classes.')

    def class_weight_like(self, logits: torch.Tensor
                          ) -> Optional[torch.Tensor]:
        """The class weights on the device and in the dtype of ``logits``."""
        if self.class_weight is None:
            return None
        return self.class_weight.to(logits)

    def normalized(self, loss: torch.Tensor, target: torch.Tensor,
                   normalize: bool) -> torch.Tensor:
        """Apply the class-weight normalisation when asked and weighted."""
        class_weight = self.class_weight
        if not normalize or class_weight is None:
            return loss
        return normalize_by_class_weight(loss, target,
                                         class_weight.to(loss))

    # -- loss --------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if not name.startswith('_'):
            # a hyper-parameter or buffer was set: the fused path's table
            # (built from hard_label_specs) is rebuilt at the next call
            self.__dict__.pop('_term_table', None)

    def hard_label_specs(self) -> Optional[Tuple[TermSpec, ...]]:
        """The terms of the fused hard-label path (:class:`TermSpec`: the
        loss is their weighted sum, computed by
        :class:`~.margin_focal_nll.MarginFocalNLL`), or None: hard labels
        go through :meth:`per_sample_loss` (the default)."""
        return None

    def hard_label_loss(self, logits: torch.Tensor, target: torch.Tensor,
                        scale: float = 1.0,
                        total: bool = False) -> torch.Tensor:
        """The loss of ``(N,)`` class indices in one fused call (per-class
        constants from a cached :class:`ClassTermTable`), multiplied by
        ``scale``; the sum when ``total``."""
        buffers = self._buffers  # not nn.Module.__getattr__: every step
        margins, class_weight = buffers.get('margins'), buffers['class_weight']
        table = self.__dict__.get('_term_table')
        if table is None or not table.is_valid(margins, class_weight, logits):
            table = self._term_table = ClassTermTable(
                self.hard_label_specs(), margins, class_weight, logits)
        try:
            return table(logits, target, scale, total)
        except IndexError:  # from index_select: say which labels and why
            check_label_range(target, logits.size(1), type(self).__name__)
            raise

    def per_sample_loss(self, logits: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        """``(N,)`` losses before reduction of the targets the fused path
        does not take: soft targets, and every target of a loss without
        :meth:`hard_label_specs` (subclasses)."""
        raise NotImplementedError

    def reduced_loss(self, logits: torch.Tensor, label: torch.Tensor,
                     weight: Optional[torch.Tensor], reduction: str,
                     avg_factor: Optional[float]) -> torch.Tensor:
        """Per-sample losses reduced with the ``(N,)`` sample weights.
        ``label``: ``(N,)`` class indices or ``(N, C)`` soft targets whose
        rows sum to 1 (``ValueError`` otherwise).

        Hard labels of a loss with :meth:`hard_label_specs` take the fused
        path, with a ``'mean'`` or ``'sum'`` reduction without sample weights
        folded into it (:func:`~.utils.total_scale`); on the CPU their range
        is checked by the fused path's ``index_select`` (no separate check,
        a device-to-host read)."""
        self._check_ready(logits.size(1))
        fused = self._fused_hard_labels
        target = prepare_target(
            label, logits, type(self).__name__, rows_sum_to_one=True,
            check_range=not (fused and logits.device.type == 'cpu'))
        if fused and target.dim() == 1:
            scale = None if weight is not None else total_scale(
                reduction, avg_factor, target)
            if scale is not None:
                return self.hard_label_loss(logits, target, scale, total=True)
            loss = self.hard_label_loss(logits, target)
        else:
            loss = self.per_sample_loss(logits, target)
        return reduce_loss(loss, weight, reduction, avg_factor)
