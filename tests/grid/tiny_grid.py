"""A tiny imbalanced image-folder dataset and two tiny configs (CE, LMF) in
the project's naming convention, for grid-runner tests that really train
and test through MMPretrain's scripts."""
from pathlib import Path

from tests.conftest import make_image_folder

#: Class folders (sorted, so CustomDataset gives them indices 0, 1, 2).
CLASSES = ('common', 'medium', 'rare')
#: Images per class and split; val and test differ, so that test metrics
#: cannot be mistaken for validation metrics.
COUNTS = {
    'train': (16, 8, 4),
    'val': (6, 3, 2),
    'test': (9, 5, 3),
}
IMAGE_SIZE = 16

CONFIG_TEMPLATE = """\
# Tiny test config: a narrow ResNet-18 on a {image_size} px image folder.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)
data_root = {data_root!r}

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=3, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True),
    backbone=dict(type='ResNet', depth=18, base_channels=8,
                  out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=64,
              loss={loss}))

pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


def _loader(split, shuffle):
    return dict(
        batch_size=8, num_workers=0, persistent_workers=False,
        pin_memory=False,
        sampler=dict(type='DefaultSampler', shuffle=shuffle),
        dataset=dict(type='CustomDataset', data_root=data_root,
                     data_prefix=split, pipeline=pipeline))


train_dataloader = _loader('train', True)
val_dataloader = _loader('val', False)
test_dataloader = _loader('test', False)
val_evaluator = dict(type='ImbalancedClsMetric', cls_num_list='auto')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
train_cfg = dict(by_epoch=True, max_epochs={max_epochs}, val_interval=1)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [dict(type='SetClassCountsHook')]
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1,
                    save_best='imbalanced/macro_f1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False,
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None)
"""

LOSSES = {
    'ce': "dict(type='CrossEntropyLoss', loss_weight=1.0)",
    'lmf': "dict(type='LMFLoss', cls_num_list='auto')",
}


def make_data(root) -> Path:
    """``root/{train,val,test}/{common,medium,rare}/*.png``: noisy images
    whose mean colour depends on the class."""
    return make_image_folder(root, {
        split: dict(zip(CLASSES, counts)) for split, counts in COUNTS.items()
    }, size=IMAGE_SIZE)


#: Epochs of the tiny configs.
MAX_EPOCHS = 2


def config_name(loss: str) -> str:
    return f'resnet18-w8_scratch_1xb8-{loss}-{MAX_EPOCHS}e_tiny.py'


def write_config(folder, loss: str, data_root) -> Path:
    """A tiny config with the given loss (``'ce'`` or ``'lmf'``)."""
    path = Path(folder) / config_name(loss)
    path.write_text(CONFIG_TEMPLATE.format(
        image_size=IMAGE_SIZE, data_root=str(data_root), loss=LOSSES[loss],
        max_epochs=MAX_EPOCHS))
    return path


#: Epochs of the tiny second stage.
SECOND_STAGE_EPOCHS = 1


def write_second_stage(folder, first_stage, data_root,
                       name: str = 'ce-crt') -> Path:
    """A tiny cRT-like second stage of the config ``first_stage``: the CE
    config, one epoch, with ``SecondStageHook(first_stage=<its file name>,
    reinit_head=True)``. The name is relative to ``folder``, as a config's
    ``first_stage`` is relative to the repository root."""
    path = Path(folder) / (f'resnet18-w8_scratch_1xb8-{name}-'
                           f'{SECOND_STAGE_EPOCHS}e_tiny.py')
    text = CONFIG_TEMPLATE.format(
        image_size=IMAGE_SIZE, data_root=str(data_root), loss=LOSSES['ce'],
        max_epochs=SECOND_STAGE_EPOCHS)
    hook = (f"dict(type='SecondStageHook', first_stage="
            f"{Path(first_stage).name!r}, reinit_head=True)")
    old = "custom_hooks = [dict(type='SetClassCountsHook')]"
    assert old in text
    path.write_text(text.replace(
        old, f"custom_hooks = [dict(type='SetClassCountsHook'), {hook}]"))
    return path
