"""Every shipped config loads, builds, and runs one training iteration and
one validation on generated data in its dataset's official layout (CPU,
pretrained init off, images resized to 32 px instead of 224 for speed)."""
import itertools
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import lmfloss_mm  # noqa: F401
from lmfloss_mm.datasets.synthetic import (make_fake_ham10000,
                                           make_fake_isic2019,
                                           make_fake_odir5k)

REPO = Path(__file__).resolve().parents[2]
#: every config users can train (all but the _base_ files)
CONFIGS = sorted(p for p in (REPO / 'configs').glob('*/*.py')
                 if p.parent.name != '_base_')
PAPER_LOSSES = ('ce', 'focal', 'ldam', 'lmf')
#: the paper's grid: {dataset}/{backbone}_in1k-pre_1xb32-{loss}-100e_{dataset}
PAPER_CONFIGS = [
    p for p in CONFIGS if p.parent.name in ('ham10000', 'isic2019', 'odir5k')
    and p.stem.split('_')[2] in {f'1xb32-{loss}-100e' for loss in PAPER_LOSSES}
]
FIXTURES = {'HAM10000': make_fake_ham10000, 'ISIC2019': make_fake_isic2019,
            'ODIR5K': make_fake_odir5k}
NUM_CLASSES = {'HAM10000': 7, 'ISIC2019': 8, 'ODIR5K': 8}
PRETRAINED = {
    'resnet50': 'resnet50_8xb32_in1k_20210831-ea4938fc.pth',
    'efficientnetv2-s': 'efficientnetv2-s_3rdparty_in1k_20221220-f0eaff9d.pth'
}
_RUN_IDS = itertools.count()


@pytest.fixture(scope='module')
def data_roots(tmp_path_factory):
    return {name: str(make(tmp_path_factory.mktemp(name)))
            for name, make in FIXTURES.items()}


def config_id(path):
    return f'{path.parent.name}/{path.stem}'


def test_the_grid_is_complete():
    names = {config_id(p) for p in PAPER_CONFIGS}
    assert len(names) == 24
    for dataset, backbone, loss in itertools.product(
            ('ham10000', 'isic2019', 'odir5k'), PRETRAINED, PAPER_LOSSES):
        assert (f'{dataset}/{backbone}_in1k-pre_1xb32-{loss}-100e_{dataset}'
                in names)


@pytest.mark.parametrize('path', PAPER_CONFIGS, ids=config_id)
def test_config_keeps_the_recipe(path):
    cfg = Config.fromfile(str(path))
    dataset = cfg.train_dataloader.dataset.type
    backbone = path.stem.split('_')[0]
    assert cfg.custom_imports == dict(imports=['lmfloss_mm'],
                                      allow_failed_imports=False)
    assert cfg.model.head.num_classes == NUM_CLASSES[dataset]
    assert cfg.data_preprocessor.num_classes == NUM_CLASSES[dataset]
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.checkpoint.startswith(
        'https://download.openmmlab.com/') and init.checkpoint.endswith(
            PRETRAINED[backbone])
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=1e-4,
                                               weight_decay=5e-4)
    assert cfg.param_scheduler == dict(type='StepLR', by_epoch=True,
                                       step_size=30, gamma=0.1)
    assert cfg.train_cfg.max_epochs == 100
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.default_hooks.checkpoint.save_best == 'imbalanced/macro_f1'
    assert dict(type='SetClassCountsHook') in cfg.custom_hooks
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        assert loader.dataset.split == split
        resize = [t for t in loader.dataset.pipeline if t.type == 'Resize']
        assert resize[0].scale == (224, 224)
    loss = cfg.model.head.loss
    if loss.type != 'CrossEntropyLoss':
        assert loss.cls_num_list == 'auto'
    if loss.type == 'LMFLoss':
        assert (loss.ldam_weight, loss.focal_weight, loss.gamma, loss.max_m,
                loss.s, loss.class_weight) == (1.5, 1.0, 1.5, 0.5, 30.0,
                                               'margins')


def shrink(cfg, data_root, work_dir):
    """Point the config at the fixture and make one iteration cheap."""
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'cfg_test_{next(_RUN_IDS)}'
    cfg.model.backbone.init_cfg = None  # no download in tests
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=4 if split == 'train' else 32,
                      num_workers=0, persistent_workers=False)
        loader.dataset.data_root = data_root
        for transform in loader.dataset.pipeline:
            if transform.type == 'Resize':
                transform.scale = tuple(
                    32 * side // min(transform.scale)
                    for side in transform.scale)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1,
                         val_interval=1)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = None  # checkpointing: see test_mim_train
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_config_trains_an_iteration_and_validates(path, data_roots,
                                                  tmp_path):
    cfg = Config.fromfile(str(path))
    dataset = cfg.train_dataloader.dataset.type
    cfg = shrink(cfg, data_roots[dataset], tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    loss = runner.model.head.loss_module
    if getattr(loss, 'auto_class_counts', False):
        counts = runner.train_dataloader.dataset.get_gt_labels()
        assert loss.class_counts.tolist() == torch.bincount(
            torch.as_tensor(counts), minlength=NUM_CLASSES[dataset]).tolist()
    metrics = runner.val_loop.run()
    if cfg.model.head.type.startswith('MultiLabel'):
        assert 0 <= metrics['multi-label/mAP'] <= 100
        assert len(metrics['multi-label/AP_classwise']) == NUM_CLASSES[dataset]
    else:
        assert 0 <= metrics['imbalanced/macro_f1'] <= 100
        assert len(metrics['imbalanced/f1_classwise']) == NUM_CLASSES[dataset]
