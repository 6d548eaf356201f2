"""The 12 ODIR-5K multi-label configs: the grid is complete, each keeps the
recipe, and each builds, trains one iteration and validates on generated data
(CPU, pretrained init off, images resized to 64 px)."""
import itertools
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import lmfloss_mm  # noqa: F401
from lmfloss_mm.datasets import make_fake_odir5k
from tests.conftest import shrink_config

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / 'configs' / 'odir5k_multilabel'
CONFIGS = sorted(CONFIG_DIR.glob('*.py'))
BACKBONES = {'resnet50': 2048, 'efficientnetv2-s': 1280}
UNITS = ('patient', 'image')
LOSSES = {
    'bce': dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    # the ASL repository's training setting: focusing weight detached
    'asl': dict(type='DetachableAsymmetricLoss', gamma_pos=0.0,
                gamma_neg=4.0, clip=0.05, eps=1e-8,
                detach_focusing_weight=True, loss_weight=1.0),
    'ral': dict(type='RobustAsymmetricLoss', gamma_neg=4.0, gamma_pos=0.0,
                clip=0.05, eps=1e-8, lamb=1.5, epsilon_pos=1.0,
                epsilon_neg=0.0, epsilon_pos_pow=-2.5, loss_weight=1.0),
}
LOSS_CLASSES = {'bce': 'CrossEntropyLoss',
                'asl': 'DetachableAsymmetricLoss',
                'ral': 'RobustAsymmetricLoss'}
METRIC_KEYS = {
    'multi-label/mAP', 'multi-label/AP_classwise', 'multi-label/precision',
    'multi-label/recall', 'multi-label/f1-score',
    'multi-label/precision_classwise', 'multi-label/recall_classwise',
    'multi-label/f1-score_classwise'
}
#: the ODIR-5K challenge score, reported by the patient-level configs
ODIR_KEYS = {'odir/kappa', 'odir/f1', 'odir/auc', 'odir/final_score'}
MULTILABEL_METRICS = [
    dict(type='AveragePrecision', average='macro'),
    dict(type='AveragePrecision', average=None),
    dict(type='MultiLabelMetric', thr=0.5, average='macro'),
    dict(type='MultiLabelMetric', thr=0.5, average=None),
]
PRETRAINED = {
    'resnet50': 'resnet50_8xb32_in1k_20210831-ea4938fc.pth',
    'efficientnetv2-s': 'efficientnetv2-s_3rdparty_in1k_20221220-f0eaff9d.pth'
}


def parse(path):
    """``{backbone}_in1k-pre_1xb32-{loss}-100e_odir5k-{unit}``."""
    backbone, _, recipe, dataset = path.stem.split('_')
    return backbone, recipe.split('-')[1], dataset.split('-')[1]


def test_the_grid_is_complete():
    names = {p.stem for p in CONFIGS}
    assert names == {
        f'{b}_in1k-pre_1xb32-{loss}-100e_odir5k-{u}'
        for b, u, loss in itertools.product(BACKBONES, UNITS, LOSSES)
    }
    assert len(names) == 12


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_keeps_the_recipe(path):
    backbone, loss, unit = parse(path)
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports.imports[0] == 'lmfloss_mm'
    assert cfg.custom_imports.allow_failed_imports is False
    head = cfg.model.head
    assert head.type == 'MultiLabelLinearClsHead' and 'topk' not in head
    assert (head.num_classes, head.in_channels, head.thr) == (
        8, BACKBONES[backbone], 0.5)
    assert head.loss == LOSSES[loss]
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.checkpoint.endswith(
        PRETRAINED[backbone])
    assert cfg.data_preprocessor.num_classes == 8
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=1e-4,
                                               weight_decay=5e-4)
    assert cfg.param_scheduler == dict(type='StepLR', by_epoch=True,
                                       step_size=30, gamma=0.1)
    assert cfg.train_cfg.max_epochs == 100
    # multi-label runtime: no single-label hook or metric
    assert [h['type'] for h in cfg.custom_hooks] == [
        'NonFiniteLossHook', 'CheckSplitOverlapHook', 'DependencyLogFilterHook']
    assert cfg.log_processor == dict(type='CompactLogProcessor')
    assert cfg.get('sync_bn') == 'torch'  # docs/robustness.md: distributed
    assert 'ImbalancedClsMetric' not in str(cfg.val_evaluator)
    odir = [dict(type='ODIRScore', thr=0.5)] if unit == 'patient' else []
    assert cfg.val_evaluator == MULTILABEL_METRICS + odir
    assert cfg.test_evaluator == cfg.val_evaluator
    checkpoint = cfg.default_hooks.checkpoint
    assert (checkpoint.save_best, checkpoint.rule) == ('multi-label/mAP',
                                                       'greater')
    size = (448, 224) if unit == 'patient' else (224, 224)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        assert loader.batch_size == 32
        dataset = loader.dataset
        assert dataset.type == 'ODIR5K' and dataset.split == split
        assert dataset.label_source == 'patient_multilabel'
        assert dataset.sample_unit == unit
        types = [t.type for t in dataset.pipeline]
        assert types == [
            'LoadEyePair' if unit == 'patient' else 'LoadImageFromFile',
            'Resize', 'PackInputs'
        ]
        assert dataset.pipeline[1].scale == size


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return str(make_fake_odir5k(tmp_path_factory.mktemp('odir'),
                                organisers_annotation='csv'))


class CatchMetrics(Hook):
    """Keeps the metrics of the last validation."""

    def __init__(self):
        self.metrics = None

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = metrics


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_trains_an_iteration_and_validates(path, data_root,
                                                  tmp_path, free_runners):
    _, loss, unit = parse(path)
    cfg = shrink_config(Config.fromfile(str(path)), data_root, tmp_path,
                        image_size=64, square=True, test_batch=8)
    runner = Runner.from_cfg(cfg)
    catcher = CatchMetrics()
    runner.register_hook(catcher)
    before = runner.model.head.fc.weight.detach().clone()
    runner.train()
    assert runner.iter == 1
    assert type(runner.model.head.loss_module).__name__ == LOSS_CLASSES[loss]
    # the step changed the head (a finite, non-zero loss was optimised)
    after = runner.model.head.fc.weight.detach()
    assert torch.isfinite(after).all() and not torch.equal(before, after)
    train = runner.train_dataloader.dataset
    val = runner.val_dataloader.dataset
    assert train.sample_unit == val.sample_unit == unit
    batch = next(iter(runner.val_dataloader))
    assert tuple(batch['inputs'][0].shape) == (3, 64, 64)
    if unit == 'patient':
        assert 'left_img_path' in val.get_data_info(0)
    metrics = catcher.metrics
    assert set(metrics) == METRIC_KEYS | (ODIR_KEYS if unit == 'patient'
                                          else set())
    if unit == 'patient':  # the challenge score is the mean of its parts
        parts = [metrics[f'odir/{k}'] for k in ('kappa', 'f1', 'auc')]
        assert metrics['odir/final_score'] == pytest.approx(sum(parts) / 3)
        assert -1 <= parts[0] <= 1 and 0 <= parts[1] <= 1
    assert 0 <= metrics['multi-label/mAP'] <= 100
    assert 0 <= metrics['multi-label/f1-score'] <= 100
    for key in METRIC_KEYS - {'multi-label/mAP', 'multi-label/precision',
                              'multi-label/recall', 'multi-label/f1-score'}:
        assert len(metrics[key]) == 8
    # mAP is the mean of the per-class APs
    ap = metrics['multi-label/AP_classwise']
    assert metrics['multi-label/mAP'] == pytest.approx(sum(ap) / 8,
                                                       rel=1e-5)


def test_the_best_map_checkpoint_is_saved(data_root, tmp_path):
    """The runtime's save_best key exists in the validation metrics."""
    path = CONFIG_DIR / 'resnet50_in1k-pre_1xb32-ral-100e_odir5k-patient.py'
    cfg = Config.fromfile(str(path))
    checkpoint = cfg.default_hooks.checkpoint
    cfg = shrink_config(cfg, data_root, tmp_path, image_size=64,
                        square=True, test_batch=8)
    cfg.default_hooks.checkpoint = dict(checkpoint, by_epoch=False)
    runner = Runner.from_cfg(cfg)
    runner.train()
    best = list(tmp_path.rglob('best_multi-label_mAP_iter_1.pth'))
    assert len(best) == 1
    assert runner.message_hub.get_info('best_score') is not None
