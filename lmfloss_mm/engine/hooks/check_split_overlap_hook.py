"""Warn when the training set and an evaluation set share images."""
import logging
import os.path as osp
from typing import Optional, Set

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS, HOOKS

from lmfloss_mm.datasets.labels import unwrap_dataset
from lmfloss_mm.datasets.utils import list_some


def image_files(dataset) -> Optional[Set[str]]:
    """The image files of a (wrapped) dataset, from its data list only.

    Every string under a data-info key that ends in ``img_path``
    (``img_path``, or ``left_img_path`` / ``right_img_path`` for ODIR-5K
    patients) is taken, as a resolved absolute path; no image is read.

    Returns:
        set[str] | None: The files, or None when a part of the dataset has
        no ``get_data_info`` or lists no image path.
    """
    files = set()
    for part in unwrap_dataset(dataset):
        if not hasattr(part, 'get_data_info'):
            return None
        if hasattr(part, 'full_init'):
            part.full_init()
        part_files = set()
        for index in range(len(part)):
            info = part.get_data_info(index)
            part_files.update(
                osp.realpath(value) for key, value in info.items()
                if key.endswith('img_path') and isinstance(value, str))
        if len(part) and not part_files:
            return None
        files |= part_files
    return files


@HOOKS.register_module()
class CheckSplitOverlapHook(Hook):
    """Warn when the evaluation sets share images with the training set.

    Training and evaluating on the same images (for example ``split=
    'all'`` or ``'isic2018_test'`` in every dataloader, or two split files)
    gives metrics that are no held-out estimate.  Before training the hook
    compares the image files of the training set with those of the
    validation set and, when the config has a test dataloader, of the test
    set (building the test loop early); before testing it compares the test
    set with the training set (built from ``cfg.train_dataloader`` when the
    run did not build it, e.g. ``tools/test.py``).  Files are compared by
    their resolved paths from the datasets' data lists; no image is read.

    Each overlap is logged as a warning that names how many images the two
    sets share and a few of them; training goes on.  A dataset whose data
    list has no image paths is not compared (logged at INFO level), and a
    test or training set that cannot be built is reported in a warning and
    compared when it can.
    """

    priority = 'LOW'

    def __init__(self):
        self._train_files: Optional[Set[str]] = None
        self._test_checked = False

    def _training_files(self, runner) -> Optional[Set[str]]:
        if self._train_files is None:
            loop = getattr(runner, '_train_loop', None)
            if loop is not None and not isinstance(loop, dict):
                dataset = runner.train_dataloader.dataset
            else:
                cfg = runner.cfg.get('train_dataloader')
                if not cfg or 'dataset' not in cfg:
                    return None
                try:
                    dataset = DATASETS.build(cfg['dataset'])
                except Exception as error:
                    print_log(
                        'CheckSplitOverlapHook: cannot build the training '
                        f'set to compare the test set with it ({error}).',
                        logger='current',
                        level=logging.WARNING)
                    return None
            self._train_files = image_files(dataset)
        return self._train_files

    def _compare(self, runner, name: str, dataset) -> None:
        train = self._training_files(runner)
        other = image_files(dataset)
        if train is None or other is None:
            print_log(
                f'CheckSplitOverlapHook: the training or {name} dataset '
                'lists no image paths; their overlap is not checked.',
                logger='current')
            return
        shared = sorted(train & other)
        if shared:
            print_log(
                f'CheckSplitOverlapHook: the training set and the {name} set '
                f'share {len(shared)} of their {len(other)} {name} images '
                f'(e.g. {list_some(osp.basename(p) for p in shared)}), so '
                f'{name} metrics are not measured on held-out images. Use '
                "disjoint splits, e.g. split='train' / 'val' / 'test' of one "
                'split file.',
                logger='current',
                level=logging.WARNING)

    def before_train(self, runner) -> None:
        if getattr(runner, '_val_loop', None) is not None:
            self._compare(runner, 'validation', runner.val_dataloader.dataset)
        if getattr(runner, '_test_loop', None) is None:
            return
        try:
            test_dataset = runner.test_dataloader.dataset
        except Exception as error:
            print_log(
                'CheckSplitOverlapHook: cannot build the test set before '
                f'training ({error}); its overlap with the training set is '
                'checked when testing.',
                logger='current',
                level=logging.WARNING)
            return
        self._compare(runner, 'test', test_dataset)
        self._test_checked = True

    def before_test(self, runner) -> None:
        if not self._test_checked:
            self._compare(runner, 'test', runner.test_dataloader.dataset)
            self._test_checked = True
