"""Decode every image before the first iteration (opt-in pre-flight check)."""
import logging
import os
from typing import Optional, Sequence

from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS

from lmfloss_mm.datasets.data_check import DataCheckError, check_datasets
from lmfloss_mm.datasets.splits import SPLIT_NAMES


@HOOKS.register_module()
class CheckDataHook(Hook):
    """Check that every image of the run's datasets loads, before training.

    In ``before_train`` the hook decodes every image file of the chosen
    splits exactly as their pipelines' loading transforms do (see
    :func:`lmfloss_mm.datasets.data_check.check_datasets`), logs the report
    and, if any image is missing, unreadable, empty, truncated or
    undecodable, raises :class:`~lmfloss_mm.datasets.data_check.
    DataCheckError` with every broken file and its split, before the first
    iteration.  In distributed training each rank decodes its share of the
    files and every rank raises the same full report.

    It is the hook form of ``tools/check_data.py``; enable it with::

        custom_hooks = [dict(type='CheckDataHook')]

    Args:
        splits (Sequence[str]): Which of ``'train'``, ``'val'`` and
            ``'test'`` to check; a split the config has no dataloader for is
            skipped. Checking ``'test'`` builds the test loop early.
            Defaults to ``('train', 'val')``.
        workers (int, optional): Decoding processes per rank. Defaults to
            None: the CPU count divided by the number of ranks.
        progress (bool): Show a progress bar with ETA. Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 splits: Sequence[str] = ('train', 'val'),
                 workers: Optional[int] = None,
                 progress: bool = True):
        splits = tuple(splits)
        unknown = [s for s in splits if s not in SPLIT_NAMES]
        if unknown or not splits:
            raise ValueError(f'CheckDataHook: splits must be among '
                             f'{SPLIT_NAMES}, got {splits!r}.')
        if workers is not None and (not isinstance(workers, int)
                                    or workers < 1):
            raise ValueError('CheckDataHook: workers must be a positive int '
                             f'or None, got {workers!r}.')
        self.splits = splits
        self.workers = workers
        self.progress = bool(progress)
        #: The report of the last check (None before the first).
        self.report = None

    def _datasets(self, runner) -> dict:
        datasets = {}
        for split in self.splits:
            if split != 'train' and getattr(runner, f'_{split}_loop',
                                            None) is None:
                print_log(f'CheckDataHook: the run has no {split} loop; '
                          f'{split} is not checked.', logger='current')
                continue
            datasets[split] = getattr(runner, f'{split}_dataloader').dataset
        return datasets

    def before_train(self, runner) -> None:
        workers = self.workers or max(1, (os.cpu_count() or 1) //
                                      get_world_size())
        report = check_datasets(
            self._datasets(runner),
            workers=workers,
            progress=self.progress,
            distributed=True)
        self.report = report
        if not report.ok:
            print_log(report.format(), logger='current',
                      level=logging.ERROR)
            raise DataCheckError(report)
        print_log(report.format(), logger='current')
