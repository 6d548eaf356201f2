"""Fill ``cls_num_list='auto'`` from the training set before training."""
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import DATASETS, HOOKS

from lmfloss_mm.datasets.labels import (count_classes, dataset_classes,
                                        dataset_labels)


@HOOKS.register_module()
class SetClassCountsHook(Hook):
    """Give losses and metrics built with ``cls_num_list='auto'`` the training
    set's class counts.

    Before training it counts ``gt_label`` over the training dataset (dataset
    wrappers are unwrapped, so ``ClassBalancedDataset`` does not change the
    counts) and calls ``set_class_counts(counts)`` on every model sub-module
    and every val/test metric whose ``auto_class_counts`` is True. Before
    validation and testing it does the same for metrics, building the
    training dataset from ``cfg.train_dataloader.dataset`` when the runner
    has not built it (e.g. ``tools/test.py``). Counts are recomputed on every
    run, so resuming works, and every process computes the same counts from
    the full dataset, so no communication is needed.

    Errors are raised before the first iteration: a label outside the head's
    classes, a class without training samples, a mismatch between the
    dataset's classes and the head's ``num_classes``.

    Args:
        num_classes (int, optional): number of classes. Defaults to the
            model head's ``num_classes``, else the dataset's classes.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, num_classes: Optional[int] = None):
        self.num_classes = num_classes
        self._counts: Optional[List[int]] = None

    # -- counting --------------------------------------------------------
    def _num_classes(self, runner, classes) -> int:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        head_classes = getattr(getattr(model, 'head', None), 'num_classes',
                               None)
        num_classes = self.num_classes or head_classes or (
            len(classes) if classes else None)
        if num_classes is None:
            raise ValueError('SetClassCountsHook cannot tell the number of '
                             'classes: set num_classes=... in the hook.')
        if head_classes is not None and num_classes != head_classes:
            raise ValueError(f'SetClassCountsHook(num_classes={num_classes}) '
                             f"differs from the head's {head_classes}")
        if classes is not None and len(classes) != num_classes:
            raise ValueError(
                f'The training dataset has {len(classes)} classes {tuple(classes)}'
                f' but the model head has num_classes={num_classes}. Set '
                f'model.head.num_classes={len(classes)} (and '
                f'data_preprocessor.num_classes).')
        return num_classes

    def _training_dataset(self, runner):
        loop = getattr(runner, '_train_loop', None)
        if loop is not None and not isinstance(loop, dict):
            return runner.train_dataloader.dataset
        cfg = runner.cfg.get('train_dataloader')
        if not cfg or 'dataset' not in cfg:
            return None
        return DATASETS.build(cfg['dataset'])

    def class_counts(self, runner) -> Optional[List[int]]:
        """Counts of the training set (computed once per run)."""
        if self._counts is None:
            dataset = self._training_dataset(runner)
            if dataset is None:
                return None
            classes = dataset_classes(dataset)
            num_classes = self._num_classes(runner, classes)
            self._counts = count_classes(
                dataset_labels(dataset), num_classes, classes)
            print_log(f'SetClassCountsHook: training class counts '
                      f'{dict(zip(classes, self._counts)) if classes else self._counts}',
                      logger='current')
        return self._counts

    # -- targets ---------------------------------------------------------
    @staticmethod
    def _model_targets(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return [(name, m) for name, m in model.named_modules()
                if getattr(m, 'auto_class_counts', False)]

    @staticmethod
    def _metric_targets(evaluator):
        metrics = getattr(evaluator, 'metrics', None) or []
        return [(type(m).__name__, m) for m in metrics
                if getattr(m, 'auto_class_counts', False)]

    def _fill(self, runner, targets, where: str) -> None:
        if not targets:
            return
        counts = self.class_counts(runner)
        if counts is None:
            raise RuntimeError(
                f"{', '.join(n for n, _ in targets)} use cls_num_list='auto' "
                'but the config has no train_dataloader.dataset to count. '
                'Give cls_num_list=[...] explicitly.')
        for name, target in targets:
            target.set_class_counts(counts)
        print_log(f'SetClassCountsHook: set class counts of '
                  f"{', '.join(n or 'model' for n, _ in targets)} ({where})",
                  logger='current')

    def before_train(self, runner) -> None:
        self._fill(runner, self._model_targets(runner), 'model')
        loop = getattr(runner, '_val_loop', None)
        if loop is not None and not isinstance(loop, dict):
            self._fill(runner, self._metric_targets(runner.val_evaluator),
                       'val metrics')

    def before_val(self, runner) -> None:
        self._fill(runner, self._metric_targets(runner.val_evaluator),
                   'val metrics')

    def before_test(self, runner) -> None:
        self._fill(runner, self._metric_targets(runner.test_evaluator),
                   'test metrics')


__all__ = ['SetClassCountsHook']
