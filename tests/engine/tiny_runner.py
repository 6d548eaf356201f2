"""A tiny imbalanced image-folder dataset and a ResNet-18-sized classifier
config, for tests that run MMEngine's Runner on the CPU."""
import copy
import itertools
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ('common', 'medium', 'rare')
_RUN_IDS = itertools.count()
COUNTS = (12, 5, 3)


def make_image_folder(root, counts=COUNTS, size=16, seed=0):
    """``root/<class>/<i>.png`` with class-dependent mean colour."""
    rng = np.random.default_rng(seed)
    for index, (name, n) in enumerate(zip(CLASSES, counts)):
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 100, (size, size, 3)) + 70 * index
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f'{i}.png')
    return str(root)


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
