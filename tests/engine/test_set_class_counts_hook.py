import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.runner import Runner
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS, METRICS

import lmfloss_mm  # noqa: F401
from lmfloss_mm.datasets import count_classes, dataset_labels

from .tiny_runner import COUNTS, make_image_folder, runner_config


@DATASETS.register_module(force=True)
class _ListDataset(BaseDataset):
    """Labels given directly, images from a folder (test helper)."""

    METAINFO = dict(classes=('common', 'medium', 'rare'))

    def __init__(self, labels, image, **kwargs):
        self._labels, self._image = labels, image
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self):
        return [dict(img_path=self._image, gt_label=int(y))
                for y in self._labels]


@METRICS.register_module(force=True)
class _CountsProbe(BaseMetric):
    """Records the counts it was given (test helper)."""
    default_prefix = 'probe'
    seen = []

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.auto_class_counts = True

    def set_class_counts(self, counts):
        _CountsProbe.seen.append(list(counts))

    def process(self, data_batch, data_samples):
        self.results.extend([0] * len(data_samples))

    def compute_metrics(self, results):
        return dict(n=len(results))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp('folder'))


def build_runner(cfg):
    return Runner.from_cfg(Config(cfg))





def head_loss(runner):
    return runner.model.head.loss_module


def test_auto_counts_are_filled_before_the_first_iteration(data_root,
                                                           tmp_path):
    runner = build_runner(runner_config(data_root, tmp_path))
    runner.train()
    loss = head_loss(runner)
    assert loss.class_counts.tolist() == list(COUNTS)
    expected = 0.5 * (3 / torch.tensor(COUNTS, dtype=torch.float64))**0.25
    torch.testing.assert_close(loss.margins, expected.float())


@pytest.mark.parametrize('wrapper', ['ClassBalancedDataset', 'RepeatDataset',
                                     'ConcatDataset'])
def test_dataset_wrappers_are_unwrapped(data_root, wrapper):
    from mmpretrain.registry import DATASETS as D
    inner = dict(type='CustomDataset', data_root=data_root, pipeline=[])
    if wrapper == 'ClassBalancedDataset':
        cfg = dict(type=wrapper, dataset=inner, oversample_thr=0.5)
        expected = COUNTS  # the real, un-resampled counts
    elif wrapper == 'RepeatDataset':
        cfg = dict(type=wrapper, dataset=inner, times=3)
        expected = COUNTS
    else:
        cfg = dict(type=wrapper, datasets=[inner, copy.deepcopy(inner)])
        expected = tuple(2 * n for n in COUNTS)
    labels = dataset_labels(D.build(cfg))
    assert np.bincount(labels).tolist() == list(expected)


def test_errors_are_raised_before_training(data_root, tmp_path):
    image = str(next(__import__('pathlib').Path(data_root).rglob('*.png')))
    # a class without training samples
    cfg = runner_config(data_root, tmp_path / 'a')
    cfg['train_dataloader']['dataset'] = dict(
        type='_ListDataset', labels=[0, 0, 1, 1], image=image,
        pipeline=cfg['train_dataloader']['dataset']['pipeline'])
    with pytest.raises(ValueError, match=r"Classes \['rare'\] have no"):
        build_runner(cfg).train()
    # a label outside the head's classes
    cfg['train_dataloader']['dataset']['labels'] = [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r'labels \[3\] outside 0..2'):
        build_runner(cfg).train()
    # head and dataset disagree on the number of classes
    cfg = runner_config(data_root, tmp_path / 'b')
    cfg['model']['head']['num_classes'] = 4
    cfg['data_preprocessor']['num_classes'] = 4
    with pytest.raises(ValueError, match='has 3 classes .* num_classes=4'):
        build_runner(cfg).train()


def test_auto_counts_without_the_hook_fail_clearly(data_root, tmp_path):
    runner = build_runner(runner_config(data_root, tmp_path, hooks=False))
    with pytest.raises(RuntimeError, match="dict\\(type='SetClassCountsHook'"):
        runner.train()


def test_metrics_get_counts_at_test_time(data_root, tmp_path):
    """tools/test.py builds no train loop: the hook builds the training
    dataset from the config to count it."""
    cfg = runner_config(data_root, tmp_path, loss=dict(type='CrossEntropyLoss'),
                        evaluator=dict(type='_CountsProbe'))
    _CountsProbe.seen.clear()
    metrics = build_runner(cfg).test()
    assert metrics == {'probe/n': sum(COUNTS)}
    assert _CountsProbe.seen == [list(COUNTS)]


def test_count_classes_helper():
    assert count_classes(np.array([0, 2, 2, 1]), 3) == [1, 1, 2]
    with pytest.raises(ValueError, match=r"\['b'\] have no"):
        count_classes(np.array([0, 2]), 3, ('a', 'b', 'c'))
