"""DeferredReweightingHook with a real MMEngine Runner: the switch epoch,
resuming before and after it, iteration-based loops, supported losses."""
import copy
import itertools

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS

from lmfloss_mm.engine.hooks import deferred_reweighting_hook as drw_module
from lmfloss_mm.engine.hooks.deferred_reweighting_hook import \
    DeferredReweightingHook
from tests.engine.tiny_runner import COUNTS, make_image_folder, runner_config

from .reference import cb_weights

CB = cb_weights(COUNTS, 0.9999)  # (12, 5, 3) images: ~[0.41, 0.97, 1.62]
_IDS = itertools.count()


def loss_weights(loss):
    """The class weights the loss will use, as a list (None: unweighted)."""
    weight = getattr(loss, 'ce', loss).class_weight
    if weight is None:
        return None
    return [float(w) for w in weight]


@HOOKS.register_module(force=True)
class _WeightProbe(Hook):
    """Records (epoch, iter, class weights) at every training iteration,
    after every other hook has run."""
    priority = 'LOWEST'
    records = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        _WeightProbe.records.append(
            (runner.epoch, runner.iter,
             loss_weights(runner.model.head.loss_module)))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp('drw_data'))


@pytest.fixture
def logs(monkeypatch):
    messages = []
    monkeypatch.setattr(drw_module, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    return messages


def config(data_root, work_dir, loss, drw, max_epochs=3, **train_cfg):
    """The tiny runner: 20 images in batches of 10 (2 iterations an epoch),
    no validation, a checkpoint every epoch."""
    cfg = runner_config(data_root, work_dir, loss=loss, max_epochs=max_epochs)
    cfg['train_dataloader']['batch_size'] = 10
    cfg['train_cfg'] = dict(by_epoch=True, max_epochs=max_epochs,
                            **train_cfg) if not train_cfg else train_cfg
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg'):
        cfg[key] = None
    cfg['custom_hooks'] = [dict(type='SetClassCountsHook'),
                           dict(type='DeferredReweightingHook', **drw),
                           dict(type='_WeightProbe')]
    cfg['experiment_name'] = f'drw_{next(_IDS)}'
    return cfg


def train(cfg):
    _WeightProbe.records.clear()
    runner = Runner.from_cfg(Config(copy.deepcopy(cfg)))
    runner.train()
    return runner, list(_WeightProbe.records)


def assert_weights(actual, expected):
    if expected is None:
        assert actual is None
    else:
        assert actual == pytest.approx(expected, rel=1e-6)


LDAM = dict(type='LDAMLoss', cls_num_list='auto', max_m=0.5, s=30.0)


@pytest.fixture(scope='module')
def ldam_run(data_root, tmp_path_factory):
    """LDAM-DRW switching at epoch index 2 of 3; keeps the checkpoints."""
    work_dir = tmp_path_factory.mktemp('drw_ldam')
    cfg = config(data_root, work_dir, LDAM, dict(start_epoch=2))
    runner, records = train(cfg)
    return cfg, work_dir, runner, records


def test_weights_switch_on_at_start_epoch(ldam_run):
    cfg, work_dir, runner, records = ldam_run
    assert [(e, i) for e, i, _ in records] == [(0, 0), (0, 1), (1, 2),
                                              (1, 3), (2, 4), (2, 5)]
    for epoch, _, weights in records:
        assert_weights(weights, CB if epoch >= 2 else None)
    loss = runner.model.head.loss_module
    assert loss.class_weight.dtype == torch.float32
    # counts and weights never enter the checkpoints
    saved = torch.load(work_dir / 'epoch_3.pth', weights_only=False)
    assert not any('class_weight' in k or 'class_counts' in k
                   for k in saved['state_dict'])


@pytest.mark.parametrize('checkpoint,max_epochs,expected', [
    # saved before the switch: epoch 1 unweighted, epoch 2 re-weighted
    ('epoch_1.pth', 3, [(1, None), (1, None), (2, CB), (2, CB)]),
    # saved at the switch: the first resumed iteration is re-weighted
    ('epoch_2.pth', 3, [(2, CB), (2, CB)]),
    # saved after the switch
    ('epoch_3.pth', 4, [(3, CB), (3, CB)]),
], ids=['before', 'at', 'after'])
def test_resume_restores_the_rule(ldam_run, logs, tmp_path, checkpoint,
                                  max_epochs, expected):
    cfg, work_dir, _, _ = ldam_run
    resumed = dict(cfg, work_dir=str(tmp_path), resume=True,
                   load_from=str(work_dir / checkpoint),
                   train_cfg=dict(by_epoch=True, max_epochs=max_epochs))
    runner, records = train(resumed)
    assert runner.epoch == max_epochs
    assert [e for e, _, _ in records] == [e for e, _ in expected]
    for (_, _, weights), (_, want) in zip(records, expected):
        assert_weights(weights, want)
    # the switch is logged exactly once
    switched = [m for m in logs if 'class-balanced weights' in m]
    assert len(switched) == 1
    assert ('re-applied after resume' in switched[0]) == (
        checkpoint != 'epoch_1.pth')


@pytest.mark.parametrize('loss', [
    dict(type='LMFLoss', cls_num_list='auto', class_weight=None),
    dict(type='LMFLoss', cls_num_list='auto'),  # official 'margins' weights
    dict(type='SoftmaxFocalLoss', gamma=1.5),
    dict(type='CrossEntropyLoss'),
    dict(type='LabelSmoothLoss', label_smooth_val=0.1),
], ids=['lmf', 'lmf-margins', 'focal', 'ce', 'label-smooth'])
def test_supported_losses_switch(data_root, tmp_path, logs, loss):
    cfg = config(data_root, tmp_path, loss, dict(start_epoch=1),
                 max_epochs=2)
    runner, records = train(cfg)
    before = None
    if loss.get('type') == 'LMFLoss' and 'class_weight' not in loss:
        before = [0.5 * (3 / n)**0.25 for n in COUNTS]  # the margin vector
    assert [e for e, _, _ in records] == [0, 0, 1, 1]
    for epoch, _, weights in records:
        assert_weights(weights, CB if epoch >= 1 else before)
    assert len(logs) == 1 and 'from epoch 1' in logs[0]
    if loss['type'] == 'CrossEntropyLoss':  # a plain list, as mmpretrain uses
        assert isinstance(runner.model.head.loss_module.class_weight, list)


def test_iter_based_loop_converts_epochs_to_iterations(data_root, tmp_path,
                                                       logs):
    # 2 iterations per pass over the data: start_epoch=2 is iteration 4
    cfg = config(data_root, tmp_path, LDAM, dict(start_epoch=2, beta=0.999),
                 train_cfg=None)
    cfg['train_cfg'] = dict(type='IterBasedTrainLoop', max_iters=6)
    # (MMEngine's loop sleeps 2 s whenever a finite sampler restarts)
    cfg['train_dataloader']['sampler'] = dict(type='InfiniteSampler')
    cfg['default_hooks']['checkpoint'] = dict(
        type='CheckpointHook', interval=3, by_epoch=False)
    expected = cb_weights(COUNTS, 0.999)
    _, records = train(cfg)
    assert [i for _, i, _ in records] == list(range(6))
    for _, iteration, weights in records:
        assert_weights(weights, expected if iteration >= 4 else None)
    assert len(logs) == 1 and 'from iteration 4' in logs[0]
    # resume from iteration 3: 3 unweighted, 4 and 5 re-weighted
    resumed = dict(cfg, work_dir=str(tmp_path / 'resumed'), resume=True,
                   load_from=str(tmp_path / 'iter_3.pth'))
    _, records = train(resumed)
    assert [(i, w is not None) for _, i, w in records] == [
        (3, False), (4, True), (5, True)]


def test_start_iter_in_an_epoch_based_loop(data_root, tmp_path):
    cfg = config(data_root, tmp_path, dict(type='CrossEntropyLoss'),
                 dict(start_iter=3, cls_num_list=[1, 1, 8]), max_epochs=2)
    _, records = train(cfg)
    explicit = cb_weights([1, 1, 8], 0.9999)
    assert [(i, w is not None) for _, i, w in records] == [
        (0, False), (1, False), (2, False), (3, True)]
    assert_weights(records[-1][2], explicit)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match='exactly one of'):
        DeferredReweightingHook()
    with pytest.raises(ValueError, match='exactly one of'):
        DeferredReweightingHook(start_epoch=1, start_iter=5)
    with pytest.raises(ValueError, match='start_epoch must be an int >= 0'):
        DeferredReweightingHook(start_epoch=-1)
    with pytest.raises(ValueError, match='start_epoch must be an int >= 0'):
        DeferredReweightingHook(start_epoch=1.5)
    with pytest.raises(ValueError, match=r'beta must be in \[0, 1\)'):
        DeferredReweightingHook(start_epoch=1, beta=1.0)


def test_unsupported_loss_is_refused(data_root, tmp_path):
    cfg = config(data_root, tmp_path, dict(type='FocalLoss'),
                 dict(start_epoch=1), max_epochs=1)
    with pytest.raises(TypeError, match='cannot set class weights of '
                       'FocalLoss'):
        train(cfg)
