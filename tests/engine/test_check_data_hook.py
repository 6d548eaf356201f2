"""CheckDataHook stops a run with a broken image before its first
iteration, and lets a clean run through."""
import os

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import lmfloss_mm  # noqa: F401
from lmfloss_mm.datasets import DataCheckError
from lmfloss_mm.engine.hooks import CheckDataHook

from .tiny_runner import make_image_folder, runner_config


class IterationRecorder(Hook):

    def __init__(self):
        self.iterations = 0

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.iterations += 1


def build_runner(tmp_path, hooks=()):
    data_root = make_image_folder(tmp_path / 'data', counts=(4, 3, 3))
    cfg = runner_config(data_root, tmp_path / 'work', hooks=False)
    cfg['custom_hooks'] = list(hooks)
    return Runner.from_cfg(Config(cfg)), data_root


def test_a_broken_image_stops_training_before_the_first_iteration(
        tmp_path):
    runner, data_root = build_runner(
        tmp_path, [dict(type='CheckDataHook', workers=1, progress=False)])
    recorder = IterationRecorder()
    runner.register_hook(recorder)
    broken = os.path.join(data_root, 'rare', '1.png')
    open(broken, 'wb').close()
    with pytest.raises(DataCheckError) as error:
        runner.train()
    assert recorder.iterations == 0 and runner.iter == 0
    (record, splits), = error.value.report.broken()
    assert (record.path, record.status, splits) == (broken, 'empty',
                                                    ['train', 'val'])
    lines = [line.split() for line in str(error.value).split('\n')]
    assert ['train,val', 'empty', f'{broken}:', 'empty', 'file', '(0',
            'bytes)'] in lines


def test_a_clean_run_passes_every_split(tmp_path):
    runner, _ = build_runner(tmp_path)
    hook = CheckDataHook(splits=('train', 'val', 'test'), workers=1,
                         progress=False)
    hook.before_train(runner)  # no error
    report = hook.report
    assert report.ok and report.broken() == []
    assert [s.split for s in report.listings] == ['train', 'val', 'test']
    assert [len(report.records[s]) for s in ('train', 'val', 'test')] == [
        10, 10, 10
    ]


def test_arguments_are_validated():
    with pytest.raises(ValueError, match='splits must be among'):
        CheckDataHook(splits=('training', ))
    with pytest.raises(ValueError, match='workers must be a positive int'):
        CheckDataHook(workers=0)
