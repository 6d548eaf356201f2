"""The known dependency warnings are filtered (exactly those), the project's
own warnings still show, and pytest.ini filters the same list."""
import configparser
import glob
import logging
import os.path as osp
import warnings
from pathlib import Path

import pytest
import torch
from mmengine.runner import Runner
from mmengine.utils import is_installed

from lmfloss_mm.evaluation import ImbalancedClsMetric
from lmfloss_mm.utils import (DEPENDENCY_WARNINGS, DependencyLogFilter,
                              filter_dependency_warnings)
from tests.engine.tiny_runner import make_image_folder, runner_config

REPO = Path(__file__).resolve().parents[2]

#: The dependencies' messages, verbatim.
MMCV_LITE = ('Fail to import ``MultiScaleDeformableAttention`` from '
             '``mmcv.ops.multi_scale_deform_attn``, You should install '
             '``mmcv`` rather than ``mmcv-lite`` if you need this module. ')
PKG_RESOURCES = ('pkg_resources is deprecated as an API. See '
                 'https://setuptools.pypa.io/en/latest/pkg_resources.html.')


@pytest.fixture
def shown():
    """Warnings that reach the user under the package's filters only."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter('always')
        filter_dependency_warnings()
        yield caught


def test_known_dependency_warnings_are_filtered(shown):
    warnings.warn(MMCV_LITE, UserWarning)
    warnings.warn(PKG_RESOURCES, UserWarning)
    warnings.warn(PKG_RESOURCES, DeprecationWarning)
    is_installed('mmpretrain')  # MMEngine reloads pkg_resources: warns
    if not torch.cuda.is_available():  # torch warns on a CPU-only machine
        list(torch.utils.data.DataLoader(torch.zeros(2), pin_memory=True))
    assert [str(w.message) for w in shown] == []


def test_other_warnings_still_show(shown):
    # the project's own warning (AUC undefined for a class never seen)
    metric = ImbalancedClsMetric(num_classes=3, log_table=False)
    metric.process(None, [dict(gt_label=torch.tensor(i % 2),
                               pred_score=torch.tensor([.5, .3, .2]))
                          for i in range(4)])
    metric.evaluate(4)
    # same text, other category; other text, same category
    warnings.warn(MMCV_LITE, RuntimeWarning)
    warnings.warn('Fail to import something else', UserWarning)
    messages = [(w.category, str(w.message)) for w in shown]
    assert messages[0][0] is UserWarning
    assert 'ROC AUC is undefined for class(es) 2' in messages[0][1]
    assert messages[1:] == [(RuntimeWarning, MMCV_LITE),
                            (UserWarning, 'Fail to import something else')]


def test_pytest_ini_filters_the_same_warnings():
    ini = configparser.ConfigParser()
    ini.read(REPO / 'pytest.ini')
    lines = [line.strip() for line in
             ini['pytest']['filterwarnings'].splitlines()
             if line.strip() and not line.strip().startswith('#')]
    assert lines == [f'ignore:{w.message}:{w.category.__name__}'
                     for w in DEPENDENCY_WARNINGS]


def test_log_filter_drops_only_the_mmengine_notices():
    log_filter = DependencyLogFilter()

    def passes(message, level=logging.WARNING):
        return log_filter.filter(logging.LogRecord(
            'mmengine', level, __file__, 1, message, None, None))

    assert not passes('"FileClient" will be deprecated in future. Please '
                      'use io functions in https://mmengine.readthedocs.io')
    assert not passes('"HardDiskBackend" is the alias of "LocalBackend" and '
                      'the former will be deprecated in future.')
    assert passes('"FileClient" will be deprecated in future.',
                  logging.ERROR)
    assert passes('CheckSplitOverlapHook: the training set and ...')


@pytest.mark.parametrize('with_hook', [True, False])
def test_hook_keeps_the_notices_out_of_a_run_log(tmp_path, with_hook):
    root = make_image_folder(tmp_path / 'data')
    cfg = runner_config(root, tmp_path / 'work', hooks=False,
                        loss=dict(type='CrossEntropyLoss'))
    cfg['custom_hooks'] = [dict(type='CheckSplitOverlapHook')] + (
        [dict(type='DependencyLogFilterHook')] if with_hook else [])
    cfg['train_cfg'] = dict(by_epoch=False, max_iters=1, val_interval=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    (log_file, ) = glob.glob(osp.join(runner.log_dir, '*.log'))
    with open(log_file) as f:
        log = f.read()
    assert ('"FileClient" will be deprecated' in log) is not with_hook
    if with_hook:  # (logged once per process: FileClient caches backends)
        assert '"HardDiskBackend" is the alias' not in log
    # the project's own warning is logged either way
    assert 'CheckSplitOverlapHook: the training set and the validation' in log
