"""The configs of the two-stage and mixing recipes (docs/decoupled.md), and
helpers to run them: tiny backbones of the same types, a stand-in for the
first stage's best checkpoint, and the checks of a second stage's result."""
import itertools
from pathlib import Path

import torch
from mmengine.hooks import Hook
from mmpretrain.models.backbones import EfficientNetV2
from mmpretrain.registry import DATASETS as DATASET_REGISTRY
from mmpretrain.registry import MODELS

from lmfloss_mm.engine.hooks.max_norm_hook import ratio_threshold
from lmfloss_mm.engine.hooks.second_stage_hook import FIRST_STAGE_PREFIXES

REPO = Path(__file__).resolve().parents[2]
DATASETS = {'ham10000': 7, 'isic2019': 8, 'odir5k': 8}
BACKBONES = ('resnet50', 'efficientnetv2-s')
#: second-stage variant -> the first-stage variant it starts from
FIRST_STAGE = {
    'ce-crt-10e': 'ce-100e',
    'ce-lws-10e': 'ce-100e',
    'ce-taunorm-0e': 'ce-100e',
    'ce-wb-maxnorm-10e': 'ce-wb-100e',
    'mixup-ce-mislas-10e': 'mixup-ce-100e',
}
#: one-stage variants (trained from ImageNet weights like the paper configs)
ONE_STAGE = ('ce-wb-100e', 'mixup-balanced-softmax-100e',
             'cutmix-balanced-softmax-100e', 'mixup-ce-100e')
VARIANTS = ONE_STAGE + tuple(FIRST_STAGE)
GRID = list(itertools.product(DATASETS, BACKBONES, VARIANTS))


def path_of(dataset, backbone, variant):
    return (REPO / 'configs' / dataset /
            f'{backbone}_in1k-pre_1xb32-{variant}_{dataset}.py')


#: every config of this family
DECOUPLED_CONFIGS = [path_of(*key) for key in GRID]

#: An EfficientNetV2 arch with the layer structure of 's' (7 settings: a
#: stem, 6 stages of the same block types, a final 1x1 conv) but one block
#: per stage and 8-32 channels.
TINY_EFFICIENTNETV2 = [[1, 3, 1, 1, 8, 8, 0.0, -1],
                       [1, 3, 2, 2, 8, 8, 0.0, 0],
                       [1, 3, 2, 2, 8, 16, 0.0, 0],
                       [1, 3, 2, 2, 16, 16, 0.25, 1],
                       [1, 3, 1, 2, 16, 16, 0.25, 1],
                       [1, 3, 2, 2, 16, 16, 0.25, 1],
                       [1, 1, 1, 1, 16, 32, 0.0, -2]]


def use_tiny_backbone(cfg, monkeypatch):
    """Shrink ``cfg.model``'s backbone to a tiny one of the same type,
    keeping its other options (``frozen_stages``, ``norm_eval``): ResNet-18
    with 8 base channels, or :data:`TINY_EFFICIENTNETV2` (registered as arch
    ``'tiny'`` for the test)."""
    backbone = cfg.model.backbone
    if backbone.type == 'ResNet':
        backbone.update(depth=18, base_channels=8)
        cfg.model.head.in_channels = 64
    elif backbone.type == 'EfficientNetV2':
        monkeypatch.setitem(EfficientNetV2.arch_settings, 'tiny',
                            TINY_EFFICIENTNETV2)
        backbone.arch = 'tiny'
        cfg.model.head.in_channels = 32
    else:
        raise AssertionError(f'unexpected backbone {backbone.type}')
    return cfg


def save_first_stage_checkpoint(cfg, path, classes, seed=0):
    """Write, for the model of ``cfg``, what the first stage's best
    checkpoint holds: every backbone, neck and ``head.fc`` tensor (random,
    distinct from a fresh model's), and the training classes in
    ``meta.dataset_meta`` as MMEngine writes them. Returns the state dict."""
    generator = torch.Generator().manual_seed(seed)
    model = MODELS.build(cfg.model)
    state = {}
    for key, value in model.state_dict().items():
        if not key.startswith(FIRST_STAGE_PREFIXES):
            continue
        if value.is_floating_point():
            noise = torch.rand(value.shape, generator=generator)
            value = value + noise if key.endswith('running_var') else \
                value + 0.1 * (noise - 0.5)
        state[key] = value.clone()
    torch.save(dict(state_dict=state,
                    meta=dict(dataset_meta=dict(classes=list(classes)))),
               path)
    return state


def start_from_first_stage(cfg, work_dir, seed=0):
    """Set ``cfg.load_from`` to a stand-in for the first stage's best
    checkpoint (:func:`save_first_stage_checkpoint`, the dataset's classes);
    returns its state dict."""
    classes = DATASET_REGISTRY.get(
        cfg.train_dataloader.dataset.type).METAINFO['classes']
    cfg.load_from = str(Path(work_dir) / 'stage1_best.pth')
    return save_first_stage_checkpoint(cfg, cfg.load_from, classes, seed)


class Recorder(Hook):
    """Keeps the head's state when training starts (after load_from and the
    second-stage hook) and the last validation metrics."""
    priority = 'LOWEST'

    def before_train(self, runner):
        self.head = {k: v.detach().cpu().clone() for k, v in
                     runner.model.head.state_dict().items()}

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = metrics


def check_second_stage(variant, model, loaded, before):
    """What a second-stage run must leave: the checkpoint's backbone weights
    bit for bit, its BatchNorm statistics (shifted for MiSLAS), and the
    classifier of the method. ``model`` on the CPU, ``loaded`` the stage-1
    state dict, ``before`` the head's state when training started."""
    state = model.state_dict()
    weights = [k for k, _ in model.named_parameters()
               if k.startswith('backbone.')]
    assert weights and set(weights) <= set(loaded)
    for key in weights:
        assert torch.equal(state[key], loaded[key]), key
    stats = [k for k in loaded if k.startswith('backbone.')
             and k.endswith(('running_mean', 'running_var'))]
    shifted = [k for k in stats if not torch.equal(state[k], loaded[k])]
    if variant == 'mixup-ce-mislas-10e':  # BatchNorm statistics follow
        assert len(shifted) == len(stats)
    else:
        assert not shifted
    head = model.head
    fc = head.fc
    if variant == 'ce-crt-10e':  # re-initialised, then trained
        assert not torch.equal(before['fc.weight'], loaded['head.fc.weight'])
        assert torch.equal(before['fc.bias'], torch.zeros_like(fc.bias))
        assert 0.005 < float(before['fc.weight'].std()) < 0.015  # std 0.01
        assert not torch.equal(fc.weight, before['fc.weight'])
    elif variant == 'ce-lws-10e':  # classifier fixed, scales trained
        assert torch.equal(fc.weight, loaded['head.fc.weight'])
        assert torch.equal(fc.bias, loaded['head.fc.bias'])
        assert not torch.equal(head.scales, torch.ones_like(head.scales))
    elif variant == 'ce-wb-maxnorm-10e':  # fine-tuned inside the ball
        initial = loaded['head.fc.weight'].norm(dim=1)
        radius = ratio_threshold(initial, 0.1)
        norms = fc.weight.detach().norm(dim=1)
        assert bool((norms <= radius * (1 + 1e-6)).all())
        # rows far outside at the start sit on the sphere (up to the last
        # step's own small change)
        assert float(initial.max()) > 1.05 * radius
        assert float(norms.max()) > 0.99 * radius
    elif variant == 'mixup-ce-mislas-10e':  # all three trained
        assert torch.equal(before['fc.weight'], loaded['head.fc.weight'])
        assert not torch.equal(fc.weight, loaded['head.fc.weight'])
        assert not torch.equal(head.scales, torch.ones_like(head.scales))
