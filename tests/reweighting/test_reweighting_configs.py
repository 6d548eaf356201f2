"""The re-weighting / re-sampling configs: the full grid exists, each keeps
the paper recipe of its dataset and sets the intended loss, hook or sampler.
(Building and running one iteration of every config is done by
tests/configs/test_configs.py.)"""
import itertools
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
DATASETS = {'ham10000': 7, 'isic2019': 8, 'odir5k': 8}
BACKBONES = ('resnet50', 'efficientnetv2-s')
VARIANTS = ('ldam-drw', 'lmf-drw', 'wce-bwcce', 'cb-focal',
            'balanced-softmax', 'ce-cas', 'ce-sqrt')
GRID = [(d, b, v) for d, b, v in itertools.product(DATASETS, BACKBONES,
                                                     VARIANTS)]
DRW = dict(type='DeferredReweightingHook', start_epoch=80, beta=0.9999)
#: The hooks every config gets from the project runtime.
RUNTIME_HOOKS = [
    dict(type='SetClassCountsHook'), dict(type='NonFiniteLossHook'),
    dict(type='CheckSplitOverlapHook'), dict(type='DependencyLogFilterHook')]


def path_of(dataset, backbone, variant):
    return (REPO / 'configs' / dataset /
            f'{backbone}_in1k-pre_1xb32-{variant}-100e_{dataset}.py')


def test_the_grid_is_complete():
    missing = [str(path_of(*key)) for key in GRID
               if not path_of(*key).is_file()]
    assert not missing


BASES = {
    'ham10000': '../_base_/datasets/ham10000_bs32_224.py',
    'isic2019': '../_base_/datasets/isic2019_bs32_224.py',
    'odir5k': '../_base_/datasets/odir5k_bs32_224.py',
    'resnet50': '../_base_/models/resnet50_in1k-pre.py',
    'efficientnetv2-s': '../_base_/models/efficientnetv2-s_in1k-pre.py',
}


def expected_loss(variant, num_classes):
    """``model.head`` as written in the config of ``variant``."""
    losses = {
        'ldam-drw': dict(type='LDAMLoss', cls_num_list='auto', max_m=0.5,
                         s=30.0, class_weight=None),
        'lmf-drw': dict(type='LMFLoss', cls_num_list='auto', ldam_weight=1.5,
                        focal_weight=1.0, gamma=1.5, max_m=0.5, s=30.0,
                        class_weight=None),
        'wce-bwcce': dict(type='WeightedCrossEntropyLoss',
                          class_weight='bwcce', cls_num_list='auto'),
        'cb-focal': dict(type='ClassBalancedLoss', beta=0.9999, gamma=1.5,
                         cls_num_list='auto'),
        'balanced-softmax': dict(type='LogitAdjustedLoss', tau=1.0,
                                 cls_num_list='auto'),
    }
    if variant in losses:
        return dict(num_classes=num_classes,
                    loss=dict(_delete_=True, **losses[variant]))
    return dict(num_classes=num_classes)  # the base's CrossEntropyLoss


@pytest.mark.parametrize('dataset,backbone,variant', GRID,
                         ids=['/'.join(key) for key in GRID])
def test_config_contents(dataset, backbone, variant):
    """Every config is short: the paper bases plus the variant's head loss,
    hook or sampler (read by executing the file, which imports nothing)."""
    namespace = {}
    exec(path_of(dataset, backbone, variant).read_text(),
         {'dict': dict}, namespace)
    assert namespace.pop('_base_') == [
        BASES[dataset], BASES[backbone],
        '../_base_/schedules/adam_steplr-30e_100e.py',
        '../_base_/imbalanced_runtime.py']
    assert namespace.pop('custom_imports') == dict(
        imports=['lmfloss_mm'], allow_failed_imports=False)
    assert namespace.pop('model') == dict(
        head=expected_loss(variant, DATASETS[dataset]))
    if variant.endswith('-drw'):
        assert namespace.pop('custom_hooks') == RUNTIME_HOOKS + [DRW]
    if variant.startswith('ce-'):
        sampler = {'ce-cas': 'ClassAwareSampler',
                   'ce-sqrt': 'SqrtSampler'}[variant]
        assert namespace.pop('train_dataloader') == dict(sampler=dict(
            _delete_=True, type=sampler, shuffle=True))
    assert not namespace  # nothing else is changed


@pytest.mark.parametrize('variant', VARIANTS)
def test_merged_config_keeps_the_paper_recipe(variant):
    """After merging with the bases (one dataset/backbone: the other configs
    have the same contents, see above) only the variant differs from the
    paper's CE config."""
    dataset, backbone = 'isic2019', 'resnet50'
    cfg = Config.fromfile(str(path_of(dataset, backbone, variant)))
    recipe = Config.fromfile(str(path_of(dataset, backbone, 'ce')))
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'default_hooks', 'val_evaluator', 'data_preprocessor',
                'val_dataloader', 'test_dataloader'):
        assert cfg[key] == recipe[key], key
    assert cfg.model.backbone == recipe.model.backbone
    train = cfg.train_dataloader
    assert train.dataset == recipe.train_dataloader.dataset
    assert train.batch_size == 32 and cfg.train_cfg.max_epochs == 100
    loss = cfg.model.head.loss
    if variant.endswith('-drw'):
        # the runtime's hooks, then the switch
        assert cfg.custom_hooks == RUNTIME_HOOKS + [DRW]
        # the switch at 80% of training, as LDAM-DRW's 160 of 200 epochs
        assert DRW['start_epoch'] == 0.8 * cfg.train_cfg.max_epochs
    else:  # the runtime's hooks
        assert cfg.custom_hooks == RUNTIME_HOOKS
    if variant.startswith('ce-'):
        assert loss == recipe.model.head.loss
        assert loss.type == 'CrossEntropyLoss' and 'class_weight' not in loss
        assert set(train.sampler) == {'type', 'shuffle'}  # _delete_ worked
        assert train.sampler.type in ('ClassAwareSampler', 'SqrtSampler')
    else:
        assert train.sampler == dict(type='DefaultSampler', shuffle=True)
        expected = expected_loss(variant, 8)['loss']
        expected.pop('_delete_')
        assert dict(loss) == expected  # _delete_ dropped the base's CE keys
