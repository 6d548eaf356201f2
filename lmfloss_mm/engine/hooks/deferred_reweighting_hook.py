"""Deferred re-weighting (DRW, Cao et al., NeurIPS 2019)."""
from typing import List, Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from mmpretrain.models.losses import CrossEntropyLoss
from mmpretrain.registry import HOOKS

from lmfloss_mm.models.losses.utils import (DEFAULT_CB_BETA,
                                            check_class_counts,
                                            effective_number_weights)
from lmfloss_mm.datasets.labels import (count_classes, dataset_classes,
                                        dataset_labels)


class _WeightSlot:
    """Reads and writes the class weights of one supported loss."""

    def __init__(self, loss):
        self.loss = loss
        if hasattr(loss, 'set_class_weight'):  # lmfloss_mm's losses
            self.kind = 'buffer'
        elif isinstance(loss, CrossEntropyLoss):
            self.kind = 'list'
        elif isinstance(getattr(loss, 'ce', None), CrossEntropyLoss):
            self.kind = 'list'  # LabelSmoothLoss delegates to .ce
            self.loss = loss.ce
        else:
            raise TypeError(
                f'DeferredReweightingHook cannot set class weights of '
                f'{type(loss).__name__}: use one of lmfloss_mm\'s losses '
                '(LDAMLoss, LMFLoss, SoftmaxFocalLoss, ...), MMPretrain\'s '
                'CrossEntropyLoss or LabelSmoothLoss.')

    def get(self) -> Optional[List[float]]:
        weight = self.loss.class_weight
        if weight is None:
            return None
        if torch.is_tensor(weight):
            return weight.detach().cpu().double().tolist()
        return [float(w) for w in weight]

    def set(self, weight: Optional[Sequence[float]], device) -> None:
        if self.kind == 'buffer':
            self.loss.set_class_weight(weight, device=device)
        else:  # a plain list: CrossEntropyLoss makes a tensor per forward
            self.loss.class_weight = None if weight is None else [
                float(w) for w in weight]


@HOOKS.register_module()
class DeferredReweightingHook(Hook):
    r"""Deferred re-weighting (DRW) of the head's loss (Cao et al., 2019).

    Until the switch the loss keeps its configured class weights (for DRW
    these are normally none); from the switch on its class weights become
    the class-balanced weights of Cui et al. (2019)

    .. math::

        w_j = C\,\frac{(1-\beta)/(1-\beta^{n_j})}
                      {\sum_k (1-\beta)/(1-\beta^{n_k})}

    (they sum to the number of classes C), where :math:`n_j` are the
    training counts: counted from ``runner.train_dataloader.dataset``
    (dataset wrappers unwrapped, so ``ClassBalancedDataset`` and samplers do
    not change them) or given as ``cls_num_list``.  The official LDAM-DRW
    code (``kaidic/LDAM-DRW``) switches at epoch 160 of 200 (80%) with
    ``beta = 0.9999``.  How the weighted loss is averaged is the loss's own
    setting (e.g. ``LDAMLoss`` divides by the batch's weights, like
    ``F.cross_entropy(weight=w)`` in the LDAM-DRW code; MMPretrain's
    ``CrossEntropyLoss`` divides by the batch size).

    The rule is stateless, so it survives resuming: it is evaluated in
    ``before_train`` (after a resume the restored epoch/iteration decides),
    ``before_train_epoch`` and, for iteration-based loops,
    ``before_train_iter``; the weights are set when the rule says "on" and
    the configured ones restored when it says "off".

    * Epoch-based loops: weights are on in every epoch with 0-based index
      ``runner.epoch >= start_epoch`` (``start_epoch=80`` of 100 epochs: the
      last 20 epochs are re-weighted; ``start_epoch=0``: class-balanced
      re-weighting from the start).
    * ``IterBasedTrainLoop``: ``start_epoch`` counts passes over the train
      dataloader, i.e. weights are on from iteration
      ``start_epoch * len(train_dataloader)``; or give ``start_iter``
      (0-based iteration index, any loop) instead of ``start_epoch``.

    Supported losses: every ``lmfloss_mm`` loss (``LDAMLoss``, ``LMFLoss``,
    ``SoftmaxFocalLoss``, ``WeightedCrossEntropyLoss``, ...; non-persistent
    buffer on the loss's device, never in checkpoints), MMPretrain's
    ``CrossEntropyLoss`` (``class_weight`` is a plain list, made a tensor on
    the logits' device at every forward) and ``LabelSmoothLoss``.

    Args:
        start_epoch (int, optional): 0-based index of the first re-weighted
            epoch.
        beta (float): ``beta`` of the effective number, in ``[0, 1)``.
            Defaults to 0.9999.
        start_iter (int, optional): 0-based index of the first re-weighted
            iteration; exclusive with ``start_epoch``.
        cls_num_list (list[int], optional): training counts; by default
            they are counted from the training dataset.
    """

    priority = 'NORMAL'  # after SetClassCountsHook (ABOVE_NORMAL)

    def __init__(self,
                 start_epoch: Optional[int] = None,
                 beta: float = DEFAULT_CB_BETA,
                 start_iter: Optional[int] = None,
                 cls_num_list: Optional[Sequence[int]] = None):
        if (start_epoch is None) == (start_iter is None):
            raise ValueError('DeferredReweightingHook needs exactly one of '
                             'start_epoch and start_iter')
        for name, value in (('start_epoch', start_epoch),
                            ('start_iter', start_iter)):
            if value is not None and (isinstance(value, bool) or not
                                      isinstance(value, int) or value < 0):
                raise ValueError(f'DeferredReweightingHook: {name} must be an '
                                 f'int >= 0, got {value!r}')
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError('DeferredReweightingHook: beta must be in [0, 1)'
                             f', got {beta}')
        self.start_epoch = start_epoch
        self.start_iter = start_iter
        self.beta = float(beta)
        self.cls_num_list = None if cls_num_list is None else list(
            cls_num_list)
        self.weights: Optional[List[float]] = None
        self._slot: Optional[_WeightSlot] = None
        self._configured: Optional[List[float]] = None
        self._active = False

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(
            runner.model) else runner.model

    def _loss(self, runner):
        head = getattr(self._model(runner), 'head', None)
        loss = getattr(head, 'loss_module', None)
        if loss is None:
            raise TypeError('DeferredReweightingHook needs a model with '
                            'head.loss_module (an MMPretrain classifier)')
        return head, loss

    def _class_weights(self, runner, num_classes: Optional[int]
                       ) -> List[float]:
        if self.cls_num_list is not None:
            counts = check_class_counts(self.cls_num_list, num_classes,
                                        owner='DeferredReweightingHook')
        else:
            dataset = runner.train_dataloader.dataset
            classes = dataset_classes(dataset)
            num_classes = num_classes or (len(classes) if classes else None)
            labels = dataset_labels(dataset)
            if num_classes is None:
                num_classes = int(labels.max()) + 1
            counts = torch.as_tensor(
                count_classes(labels, num_classes, classes),
                dtype=torch.float64)
        return effective_number_weights(counts, self.beta).double().tolist()

    def _first_reweighted_iter(self, runner) -> Optional[int]:
        """The iteration rule, or None for the epoch rule."""
        if self.start_iter is not None:
            return self.start_iter
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            return self.start_epoch * len(runner.train_dataloader)
        return None

    def is_on(self, runner) -> bool:
        """Whether the class-balanced weights apply at the current point."""
        first_iter = self._first_reweighted_iter(runner)
        if first_iter is None:
            return runner.epoch >= self.start_epoch
        return runner.iter >= first_iter

    def _where(self, runner) -> str:
        return (f'epoch {runner.epoch}' if self._first_reweighted_iter(
            runner) is None else f'iteration {runner.iter}')

    def _update(self, runner, resumed: bool = False) -> None:
        on = self.is_on(runner)
        if on == self._active:
            return
        device = next(self._model(runner).parameters()).device
        if on:
            self._slot.set(self.weights, device)
            state = 're-applied after resume' if resumed else 'on'
            print_log(
                f'DeferredReweightingHook: class-balanced weights (beta='
                f'{self.beta}) {state} from {self._where(runner)} for '
                f'{type(self._slot.loss).__name__}: '
                f'{[round(w, 4) for w in self.weights]}',
                logger='current')
        else:
            self._slot.set(self._configured, device)
        self._active = on

    # -- hook points -----------------------------------------------------
    def before_train(self, runner) -> None:
        head, loss = self._loss(runner)
        self._slot = _WeightSlot(loss)
        self._configured = self._slot.get()
        self._active = False
        self.weights = self._class_weights(
            runner, getattr(head, 'num_classes', None))
        resumed = runner.epoch > 0 or runner.iter > 0
        self._update(runner, resumed=resumed)

    def before_train_epoch(self, runner) -> None:
        self._update(runner)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self._first_reweighted_iter(runner) is not None:
            self._update(runner)


__all__ = ['DeferredReweightingHook']
