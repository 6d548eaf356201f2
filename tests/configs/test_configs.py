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
                                           make_fake_image_csv,
                                           make_fake_isic2019,
                                           make_fake_odir5k)
from tests.conftest import shrink_config
from tests.decoupled.configs import DECOUPLED_CONFIGS

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


def make_fake_isic2018_test_csv(root):
    """The layout of configs/examples/*_isic2018-test-csv.py: JPEGs and
    the one-hot ISIC2018_Task3_Test_GroundTruth.csv."""
    counts = dict(MEL=6, NV=20, BCC=4, AKIEC=3, BKL=5, DF=3, VASC=3)
    return make_fake_image_csv(
        root, counts, ann_file='ISIC2018_Task3_Test_GroundTruth.csv',
        label_format='one_hot', id_format='ISIC_{:07d}')


FIXTURES = {'HAM10000': make_fake_ham10000, 'ISIC2019': make_fake_isic2019,
            'ODIR5K': make_fake_odir5k,
            'CSVImageDataset': make_fake_isic2018_test_csv}
NUM_CLASSES = {'HAM10000': 7, 'ISIC2019': 8, 'ODIR5K': 8,
               'CSVImageDataset': 7}
PRETRAINED = {
    'resnet50': 'resnet50_8xb32_in1k_20210831-ea4938fc.pth',
    'efficientnetv2-s': 'efficientnetv2-s_3rdparty_in1k_20221220-f0eaff9d.pth'
}


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


#: Configs that other tests train end to end (each config is trained by one
#: test file only).
TRAINED_ELSEWHERE = {
    # tests/multilabel/test_multilabel_configs.py
    **{p: 'multilabel' for p in CONFIGS if p.parent.name ==
       'odir5k_multilabel'},
    # tests/benchmarking/test_demo.py
    REPO / 'configs/demo/resnet18-w16_32px_1xb32-ce-5e_synthetic-ham10000.py':
    'demo',
    # tests/benchmarking/test_cross_validation.py
    **{REPO / f'configs/benchmark/resnet18-w16_48px_1xb32-{loss}-12e_'
       f'isic2018-cv.py': 'benchmark' for loss in ('ce', 'lmf')},
    # tests/configs/test_mim_train.py
    REPO / 'configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py':
    'mim train',
    # tests/decoupled/test_decoupled_configs.py (second stages start from a
    # first-stage checkpoint)
    **{p: 'decoupled' for p in DECOUPLED_CONFIGS},
    # tests/benchmarking/test_methods.py (second stages of the benchmark,
    # trained from their first stage's run)
    **{REPO / f'configs/benchmark/resnet18-w16_48px_1xb32-{v}_isic2018-cv.py':
       'decoupled' for v in ('ce-crt-2e', 'ce-lws-2e', 'ce-taunorm-0e',
                             'ce-wb-maxnorm-2e')},
}


@pytest.mark.parametrize(
    'path', [p for p, by in TRAINED_ELSEWHERE.items()
             if by not in ('multilabel', 'decoupled')],
    ids=config_id)
def test_configs_trained_elsewhere_set_sync_bn(path):
    # docs/robustness.md: distributed (the multi-label and decoupled configs
    # are checked in tests/multilabel and tests/decoupled)
    assert Config.fromfile(str(path)).get('sync_bn') == 'torch'


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if p not in TRAINED_ELSEWHERE], ids=config_id)
def test_config_trains_an_iteration_and_validates(path, data_roots,
                                                  tmp_path, free_runners):
    cfg = Config.fromfile(str(path))
    assert cfg.get('sync_bn') == 'torch'  # docs/robustness.md: distributed
    dataset = cfg.train_dataloader.dataset.type
    cfg = shrink_config(cfg, data_roots[dataset], tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    loss = runner.model.head.loss_module
    if getattr(loss, 'auto_class_counts', False):
        counts = runner.train_dataloader.dataset.get_gt_labels()
        assert loss.class_counts.tolist() == torch.bincount(
            torch.as_tensor(counts), minlength=NUM_CLASSES[dataset]).tolist()
    metrics = runner.val_loop.run()
    assert 0 <= metrics['imbalanced/macro_f1'] <= 100
    assert len(metrics['imbalanced/f1_classwise']) == NUM_CLASSES[dataset]
