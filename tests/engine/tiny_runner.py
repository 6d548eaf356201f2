"""A tiny imbalanced image-folder dataset and a ResNet-18-sized classifier
config, for tests that run MMEngine's Runner on the CPU."""
import copy
import itertools
from pathlib import Path

import torch

from tests import conftest

CLASSES = ('common', 'medium', 'rare')
_RUN_IDS = itertools.count()
COUNTS = (12, 5, 3)


def assert_equal_tensors(actual, expected, where='state'):
    """``torch.equal`` on every tensor of two nested dicts/lists (state
    dicts, optimizer states), other leaves compared with ``==``."""
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), where
        for key in expected:
            assert_equal_tensors(actual[key], expected[key], f'{where}.{key}')
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_equal_tensors(a, e, f'{where}[{i}]')
    elif torch.is_tensor(expected):
        assert torch.equal(actual, expected), where
    else:
        assert actual == expected, where


def make_image_folder(root, counts=COUNTS, size=16, seed=0):
    """``root/<class>/<i>.png`` for :data:`CLASSES` with ``counts`` grey
    images (the shared generator of ``tests/conftest.py``); returns
    ``str(root)``."""
    return str(conftest.make_image_folder(
        root, dict(zip(CLASSES, counts)), size=size, seed=seed,
        grey_levels=True))


def runner_config(data_root, work_dir, loss=None, max_epochs=1,
                  hooks=True, evaluator=None):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    loader = dict(
        batch_size=4,
        num_workers=0,
        dataset=dict(type='CustomDataset', data_root=data_root,
                     pipeline=pipeline),
        sampler=dict(type='DefaultSampler', shuffle=False))
    return dict(
        default_scope='mmpretrain',
        work_dir=str(work_dir),
        model=dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, num_stages=4,
                          out_indices=(3, ), base_channels=8),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=64,
                      loss=loss or dict(type='LMFLoss', cls_num_list='auto'))),
        data_preprocessor=dict(num_classes=3, mean=[0, 0, 0],
                               std=[255, 255, 255]),
        train_dataloader=dict(copy.deepcopy(loader),
                              sampler=dict(type='DefaultSampler',
                                           shuffle=True)),
        val_dataloader=copy.deepcopy(loader),
        val_evaluator=evaluator or dict(type='Accuracy'),
        test_dataloader=copy.deepcopy(loader),
        test_evaluator=evaluator or dict(type='Accuracy'),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_cfg=dict(),
        test_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-3)),
        custom_hooks=[dict(type='SetClassCountsHook')] if hooks else [],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        log_level='WARNING',
        # unique per runner: MMEngine warns when two share a timestamp name
        experiment_name=f'test_{next(_RUN_IDS)}',
    )


#: The project runtime's checkpoint settings (one regular checkpoint, the
#: best one, the ``last_checkpoint`` pointer) on the tiny run's accuracy.
PROJECT_CHECKPOINT = dict(type='AtomicCheckpointHook', interval=1,
                          max_keep_ckpts=1, save_best='accuracy/top1',
                          rule='greater')


def resumable_config(data_root, work_dir, max_epochs, checkpoint=None,
                     resume=False, **kwargs):
    """:func:`runner_config` for resume tests: deterministic, with the
    project runtime's hooks (``checkpoint`` replaces the checkpoint hook)
    and datasets that skip serialisation (a ``gc.collect()`` per build)."""
    cfg = runner_config(data_root, work_dir, max_epochs=max_epochs, **kwargs)
    cfg['default_hooks']['checkpoint'] = checkpoint or PROJECT_CHECKPOINT
    cfg['custom_hooks'].append(dict(type='NonFiniteLossHook'))
    cfg['randomness'] = dict(seed=0, deterministic=True)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader']['dataset']['serialize_data'] = False
    cfg['resume'] = resume
    return cfg
