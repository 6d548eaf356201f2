"""The two-stage and mixing configs (docs/decoupled.md).

Every config is read (the paper recipe plus its method) and trains one
iteration and validates on generated data in its dataset's layout, with a
tiny backbone of the same type and the config's other backbone options
(second stages start from a stand-in for the first stage's best
checkpoint). The run checks the method: frozen backbone weights and
BatchNorm statistics (or shifted statistics for MiSLAS), a re-initialised
(cRT), fixed (LWS) or norm-constrained (weight balancing) classifier, the
soft targets of Mixup / CutMix reaching the loss, the tau sweep and its
checkpoint."""
import functools

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import lmfloss_mm  # noqa: F401
from lmfloss_mm.datasets.synthetic import (make_fake_ham10000,
                                           make_fake_isic2019,
                                           make_fake_odir5k)
from lmfloss_mm.runner import load_checkpoint_file
from tests.conftest import shrink_config

from .configs import (DATASETS, DECOUPLED_CONFIGS, FIRST_STAGE, GRID, REPO,
                      Recorder, check_second_stage, path_of,
                      start_from_first_stage, use_tiny_backbone)

MAKE_DATA = {'ham10000': make_fake_ham10000, 'isic2019': make_fake_isic2019,
             'odir5k': make_fake_odir5k}
RUNTIME_HOOKS = [dict(type='SetClassCountsHook'),
                 dict(type='NonFiniteLossHook'),
                 dict(type='CheckSplitOverlapHook'),
                 dict(type='DependencyLogFilterHook')]
STAGE_TWO_SCHEDULE = dict(
    optimizer=dict(type='Adam', lr=1e-4, weight_decay=5e-4),
    paramwise_cfg=dict(
        custom_keys={'backbone': dict(lr_mult=0.0, decay_mult=0.0)}))
LOSSES = {
    'ce-wb-maxnorm-10e': dict(type='ClassBalancedLoss', beta=0.9999,
                              gamma=0.0, cls_num_list='auto'),
    'mixup-balanced-softmax-100e': dict(type='LogitAdjustedLoss', tau=1.0,
                                        cls_num_list='auto'),
    'cutmix-balanced-softmax-100e': dict(type='LogitAdjustedLoss', tau=1.0,
                                         cls_num_list='auto'),
    'mixup-ce-mislas-10e': dict(type='LabelAwareSmoothingLoss', eps_head=0.3,
                                eps_tail=0.0, shape='concave',
                                cls_num_list='auto'),
}
AUGMENTS = {
    'mixup-balanced-softmax-100e': dict(type='Mixup', alpha=0.2),
    'cutmix-balanced-softmax-100e': dict(type='CutMix', alpha=1.0),
    'mixup-ce-100e': dict(type='Mixup', alpha=0.2),
}
HEADS = {'ce-lws-10e': 'LWSClsHead', 'mixup-ce-mislas-10e': 'LWSClsHead',
         'ce-taunorm-0e': 'TauNormClsHead'}


@functools.lru_cache(maxsize=None)
def recipe(dataset, backbone):
    """The paper's CE config of ``dataset`` / ``backbone``."""
    return Config.fromfile(str(path_of(dataset, backbone, 'ce-100e')))


@pytest.fixture(scope='module')
def data_roots(tmp_path_factory):
    return {name: str(make(tmp_path_factory.mktemp(name)))
            for name, make in MAKE_DATA.items()}


def test_the_grid_is_complete():
    assert len(DECOUPLED_CONFIGS) == 54 == len(set(DECOUPLED_CONFIGS))
    assert not [str(p) for p in DECOUPLED_CONFIGS if not p.is_file()]
    for dataset, backbone, variant in GRID:
        if variant in FIRST_STAGE:  # its first stage is shipped too
            assert path_of(dataset, backbone, FIRST_STAGE[variant]).is_file()


def check_contents(cfg, dataset, backbone, variant):
    """The merged config: the paper recipe of its dataset plus the method."""
    ce = recipe(dataset, backbone)
    assert cfg.custom_imports == dict(imports=['lmfloss_mm'],
                                      allow_failed_imports=False)
    for key in ('data_preprocessor', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'test_evaluator', 'default_hooks'):
        assert cfg[key] == ce[key], key
    assert cfg.train_dataloader.dataset == ce.train_dataloader.dataset
    assert cfg.train_dataloader.batch_size == 32
    head = cfg.model.head
    assert head.num_classes == DATASETS[dataset]
    assert head.in_channels == ce.model.head.in_channels
    assert head.get('type', 'LinearClsHead') == HEADS.get(variant,
                                                          'LinearClsHead')
    expected_loss = LOSSES.get(variant, ce.model.head.loss)
    assert dict(head.loss) == dict(expected_loss)
    augments = cfg.model.get('train_cfg', {}).get('augments')
    assert augments == ([AUGMENTS[variant]] if variant in AUGMENTS else None)
    sampler = cfg.train_dataloader.sampler
    if variant in ('ce-crt-10e', 'ce-lws-10e', 'mixup-ce-mislas-10e'):
        assert sampler == dict(type='ClassAwareSampler', shuffle=True)
    else:
        assert sampler == dict(type='DefaultSampler', shuffle=True)
    weight_decay = 5e-3 if '-wb-' in variant else 5e-4
    if variant not in FIRST_STAGE:
        assert cfg.model.backbone == ce.model.backbone  # ImageNet init
        assert cfg.optim_wrapper.optimizer == dict(
            ce.optim_wrapper.optimizer, weight_decay=weight_decay)
        assert 'paramwise_cfg' not in cfg.optim_wrapper
        for key in ('param_scheduler', 'train_cfg'):
            assert cfg[key] == ce[key], key
        assert cfg.custom_hooks == RUNTIME_HOOKS
        assert cfg.sync_bn == 'torch'
        return
    # second stage: no ImageNet download, frozen backbone, load_from unset
    assert cfg.get('load_from') is None
    assert cfg.model.backbone == dict(ce.model.backbone, init_cfg=None,
                                      norm_eval=variant != 'mixup-ce-mislas-'
                                      '10e')
    custom_keys = dict(STAGE_TWO_SCHEDULE['paramwise_cfg']['custom_keys'])
    if variant == 'mixup-ce-mislas-10e':  # the classifier at 0.05 x lr
        custom_keys['head.fc'] = dict(lr_mult=0.05)
        assert head.freeze_classifier is False
    assert cfg.optim_wrapper == dict(
        optimizer=dict(type='Adam', lr=1e-4, weight_decay=weight_decay),
        paramwise_cfg=dict(custom_keys=custom_keys))
    if variant == 'ce-taunorm-0e':
        assert cfg.train_cfg == dict(type='TauNormSweepLoop')
    else:
        assert cfg.train_cfg == dict(by_epoch=True, max_epochs=10,
                                     val_interval=1)
        assert cfg.param_scheduler == dict(type='CosineAnnealingLR',
                                           by_epoch=True, T_max=10,
                                           eta_min=0.0)
    first_stage = path_of(dataset, backbone, FIRST_STAGE[variant])
    hook = dict(type='SecondStageHook',
                first_stage=str(first_stage.relative_to(REPO)))
    if variant == 'ce-crt-10e':
        hook['reinit_head'] = True
    extra = [dict(type='MaxNormHook', thresh=0.1)] \
        if variant == 'ce-wb-maxnorm-10e' else []
    assert cfg.custom_hooks == RUNTIME_HOOKS + [hook] + extra
    # BatchNorm frozen: plain BatchNorm (EfficientNetV2's norm_eval only
    # knows nn.BatchNorm2d); MiSLAS shifts the statistics: synchronised
    assert cfg.sync_bn == ('torch' if variant == 'mixup-ce-mislas-10e'
                           else None)


def record_targets(loss_module, seen):
    """Wrap the loss's forward to keep the targets it receives."""
    forward = loss_module.forward

    def recording(cls_score, label, *args, **kwargs):
        seen.append(label.detach().cpu().clone())
        return forward(cls_score, label, *args, **kwargs)

    loss_module.forward = recording


@pytest.mark.parametrize('dataset,backbone,variant', GRID,
                         ids=['/'.join(key) for key in GRID])
def test_config_trains_an_iteration(dataset, backbone, variant, data_roots,
                                    tmp_path, monkeypatch):
    cfg = Config.fromfile(str(path_of(dataset, backbone, variant)))
    check_contents(cfg, dataset, backbone, variant)
    checkpoint_hook = cfg.default_hooks.checkpoint
    cfg = use_tiny_backbone(
        shrink_config(cfg, data_roots[dataset], tmp_path), monkeypatch)
    loaded = None
    if variant == 'ce-taunorm-0e':
        cfg.train_cfg = dict(type='TauNormSweepLoop', taus=[0.0, 1.0])
        cfg.default_hooks.checkpoint = checkpoint_hook  # the best tau's
    if variant in FIRST_STAGE:
        loaded = start_from_first_stage(cfg, tmp_path)
    runner = Runner.from_cfg(cfg)
    recorder = Recorder()
    runner.register_hook(recorder)
    targets = []
    record_targets(runner.model.head.loss_module, targets)
    runner.train()

    metrics = recorder.metrics
    assert 0 <= metrics['imbalanced/macro_f1'] <= 100
    assert len(metrics['imbalanced/f1_classwise']) == DATASETS[dataset]
    model = runner.model.cpu()  # where a GPU is visible the run used it
    head = model.head
    if variant == 'ce-taunorm-0e':
        check_tau_sweep(runner, tmp_path)
        return
    assert runner.iter == 1 and len(targets) == 1
    target = targets[0]
    if variant in AUGMENTS:  # the batch augment's (N, C) scores
        assert target.shape == (4, DATASETS[dataset])
        assert target.is_floating_point()
        torch.testing.assert_close(target.sum(1), torch.ones(4))
    else:
        assert target.shape == (4, )
    if loaded is None:
        assert torch.isfinite(head.fc.weight).all()
        return
    check_second_stage(variant, model, loaded, recorder.head)


def check_tau_sweep(runner, work_dir):
    loop = runner.train_loop
    assert [tau for tau, _ in loop.results] == [0.0, 1.0]
    best_tau, best_score = max(loop.results, key=lambda r: r[1])
    assert loop.best_tau == best_tau == float(runner.model.head.tau)
    best = list(work_dir.rglob('best_imbalanced_macro_f1_epoch_*.pth'))
    assert len(best) == 1
    saved = load_checkpoint_file(str(best[0]), map_location='cpu')
    assert float(saved['state_dict']['head.tau']) == best_tau
    position = [tau for tau, _ in loop.results].index(best_tau) + 1
    assert best[0].name == f'best_imbalanced_macro_f1_epoch_{position}.pth'
    assert runner.message_hub.get_info('best_score') == best_score


def test_tau_norm_is_tested_at_the_chosen_tau(data_roots, tmp_path,
                                              monkeypatch):
    """``mim test CONFIG --checkpoint <best>``: the checkpoint carries the
    chosen tau, and the test set is scored with it."""
    dataset, backbone = 'odir5k', 'resnet50'
    cfg = Config.fromfile(str(path_of(dataset, backbone, 'ce-taunorm-0e')))
    checkpoint_hook = cfg.default_hooks.checkpoint
    cfg = use_tiny_backbone(
        shrink_config(cfg, data_roots[dataset], tmp_path), monkeypatch)
    cfg.train_cfg = dict(type='TauNormSweepLoop', taus=[0.0, 0.5, 1.0])
    cfg.default_hooks.checkpoint = checkpoint_hook
    start_from_first_stage(cfg, tmp_path, seed=3)
    trained = Runner.from_cfg(cfg)
    trained.train()
    best_tau = trained.train_loop.best_tau
    best = next(tmp_path.rglob('best_imbalanced_macro_f1_epoch_*.pth'))
    test_cfg = cfg.copy()
    test_cfg.load_from = str(best)
    test_cfg.work_dir = str(tmp_path / 'test')
    test_cfg.experiment_name = f'{cfg.experiment_name}_test'
    test_cfg.model.head.tau = 0.25  # not swept: the checkpoint must set it
    tester = Runner.from_cfg(test_cfg)
    metrics = tester.test()
    assert float(tester.model.head.tau) == best_tau
    assert 0 <= metrics['imbalanced/macro_f1'] <= 100


def test_a_second_stage_without_load_from_stops(data_roots, tmp_path,
                                                monkeypatch):
    dataset, backbone = 'isic2019', 'efficientnetv2-s'
    cfg = Config.fromfile(str(path_of(dataset, backbone, 'ce-lws-10e')))
    cfg = use_tiny_backbone(
        shrink_config(cfg, data_roots[dataset], tmp_path), monkeypatch)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(RuntimeError, match='no checkpoint was loaded') as e:
        runner.train()
    assert ('configs/isic2019/efficientnetv2-s_in1k-pre_1xb32-ce-100e_'
            'isic2019.py') in str(e.value)
    assert 'load_from=' in str(e.value) and runner.iter == 0
