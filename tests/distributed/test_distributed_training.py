"""Distributed training with 2 real processes (gloo) on the CPU: class
counts, deferred re-weighting, samplers, padded evaluation, resuming, and
the SyncBatchNorm default of the configs; with a GPU, SyncBatchNorm itself.

Each scenario of ``dist_train_worker.py`` is launched once per module."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import convert_sync_batchnorm
from mmengine.runner import Runner
from mmengine.runner import runner as runner_module
from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import MODELS

import lmfloss_mm  # noqa: F401
from lmfloss_mm.datasets.samplers import (ClassAwareSampler,
                                          ClassBalancedSampler, SqrtSampler)
from lmfloss_mm.runner.checkpoint import load_from_local_trusted

from ..engine.tiny_runner import COUNTS, make_image_folder
from .dist_train_worker import (DRW_START_EPOCH, REAL_CONFIGS, REPO, STOP_AT,
                                VAL_COUNTS, bn_layers, train_cfg)
from .launch import run_ranks

WORKER = Path(__file__).with_name('dist_train_worker.py')
WORLD_SIZE = 2
BETA = 0.9999  # DeferredReweightingHook's default
#: The tests compare against runs of two gloo processes: they run with the
#: full suite, not with -m 'not slow'.
pytestmark = pytest.mark.slow


def make_data(root):
    make_image_folder(root / 'train')
    make_image_folder(root / 'val', counts=VAL_COUNTS, seed=1)


def launch(root, scenario, cpu=True):
    """Run a scenario of the worker; what each rank saw, by rank."""
    run_ranks(WORKER, [scenario, root], WORLD_SIZE, cpu=cpu)
    return [torch.load(root / f'{scenario}_rank{r}.pt', weights_only=True)
            for r in range(WORLD_SIZE)]


@pytest.fixture(scope='module')
def cpu_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('dist')
    make_data(root)
    return root, launch(root, 'cpu')


@pytest.fixture
def on_cpu(monkeypatch):
    """Single-process references on the CPU, like the CPU scenario's ranks,
    also where a GPU is visible."""
    monkeypatch.setattr(runner_module, 'get_device', lambda: 'cpu')


def single_process_cfg(root, work_dir, **overrides):
    return Config(dict(train_cfg(root, work_dir, **overrides),
                       log_level='ERROR'))


def saved_state(path):
    return load_from_local_trusted(str(path), 'cpu')['state_dict']


def assert_same_state(a, b, what):
    assert a.keys() == b.keys(), what
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f'{what}: {differ[:5]} differ'


def assert_same_metrics(got, expected, rel=1e-6):
    """Equal up to float rounding (the processes batch images differently)."""
    assert list(got) == list(expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=rel, abs=1e-9), key
        else:
            assert got[key] == value, key


def is_bn_statistic(key):
    return key.endswith(('running_mean', 'running_var'))


def parameters(state):
    """``state`` without BatchNorm buffers."""
    return {k: v for k, v in state.items() if not is_bn_statistic(k)
            and not k.endswith('num_batches_tracked')}


# --------------------------------------------------------------------------
# hooks
# --------------------------------------------------------------------------
def test_every_rank_counts_the_full_training_set(cpu_run):
    _, ranks = cpu_run
    shards = []
    for rank in ranks:
        full = rank['full']
        assert full['wrapper'] == 'MMDistributedDataParallel'
        assert full['loss_counts'] == list(COUNTS)
        assert full['metric_counts'] == list(COUNTS)
        shards.append(full['shard_counts'])
    # each rank trained on half an epoch: its own counts are not the set's
    assert [sum(s) for s in shards] == [sum(COUNTS) // WORLD_SIZE] * 2
    assert list(np.sum(shards, axis=0)) != list(COUNTS)  # class-aware draw


def test_deferred_reweighting_gives_every_rank_the_same_weights(cpu_run):
    _, ranks = cpu_run
    counts = np.array(COUNTS, dtype=np.float64)
    # LMFLoss's configured weights: its LDAM margins, 0.5 * (n_min / n)^(1/4)
    margins = 0.5 * (counts.min() / counts)**0.25
    balanced = (1 - BETA) / (1 - BETA**counts)
    balanced *= len(counts) / balanced.sum()
    for rank in ranks:
        weights = rank['full']['class_weight']  # one entry per epoch
        assert len(weights) == 2 and DRW_START_EPOCH == 1
        np.testing.assert_allclose(weights[0], margins, rtol=1e-6)
        np.testing.assert_allclose(weights[1], balanced, rtol=1e-6)
        # the resumed run starts in the re-weighted epoch
        assert rank['resumed']['class_weight'] == [weights[1]]
    assert ranks[0]['full']['class_weight'] == ranks[1]['full']['class_weight']


# --------------------------------------------------------------------------
# samplers
# --------------------------------------------------------------------------
SAMPLERS = dict(ClassBalancedSampler=(ClassBalancedSampler, dict(power=1.0)),
                ClassAwareSampler=(ClassAwareSampler, {}),
                SqrtSampler=(SqrtSampler, {}))


@pytest.mark.parametrize('name', SAMPLERS)
def test_sampler_ranks_share_one_global_draw(cpu_run, name):
    root, ranks = cpu_run
    shares = [rank['samplers'][name] for rank in ranks]
    n = sum(VAL_COUNTS)  # 13: odd
    per_rank = math.ceil(n / WORLD_SIZE)
    # seed=None: rank 0's random seed, broadcast
    assert shares[0]['seed'] == shares[1]['seed']
    assert shares[0]['len'] == shares[1]['len'] == per_rank
    sampler_type, kwargs = SAMPLERS[name]
    reference = sampler_type(
        CustomDataset(data_root=str(root / 'val'), pipeline=[]),
        seed=shares[0]['seed'],
        num_samples=per_rank * WORLD_SIZE, **kwargs)
    assert reference.world_size == 1
    labels = np.repeat(np.arange(3), VAL_COUNTS)  # CustomDataset order
    for epoch in (0, 1):
        share0, share1 = (s['epochs'][epoch] for s in shares)
        assert len(share0) == len(share1) == per_rank
        # rank r holds positions r, r + 2, ...: interleaved they are the draw
        union = [i for pair in zip(share0, share1) for i in pair]
        reference.set_epoch(epoch)
        assert union == reference.global_indices().tolist()
        # within a class, images come in cycles: no image twice before all
        for c in range(3):
            drawn = [i for i in union if labels[i] == c]
            uses = np.bincount(drawn, minlength=len(labels))[labels == c]
            assert uses.max() - uses.min() <= 1, (name, epoch, c)
    assert shares[0]['epochs'][0] != shares[0]['epochs'][1]


# --------------------------------------------------------------------------
# evaluation and resuming
# --------------------------------------------------------------------------
def test_padded_test_loop_equals_one_process(cpu_run, tmp_path, on_cpu):
    root, ranks = cpu_run
    got = [rank['test_metrics'] for rank in ranks]
    assert got[0] == got[1]
    # 13 images, 7 per rank: the padded copy is not counted
    assert got[0]['imbalanced/support_classwise'] == list(VAL_COUNTS)
    cfg = single_process_cfg(root, tmp_path,
                             load_from=str(root / 'full/epoch_2.pth'))
    expected = Runner.from_cfg(cfg).test()
    assert_same_metrics(got[0], expected)


def test_resumed_run_ends_with_the_uninterrupted_weights(cpu_run):
    root, ranks = cpu_run
    assert STOP_AT[0] == 1  # stopped in epoch 2, resumed from epoch_1.pth
    assert_same_state(saved_state(root / 'full/epoch_2.pth'),
                      saved_state(root / 'resumed/epoch_2.pth'),
                      'saved checkpoints')
    assert_same_state(ranks[0]['full']['state'], ranks[0]['resumed']['state'],
                      'rank 0')
    for rank, out in enumerate(ranks):
        assert_same_state(parameters(out['full']['state']),
                          parameters(out['resumed']['state']), f'rank {rank}')
    # Without SyncBatchNorm (CPU), rank 1's running statistics restart from
    # the checkpoint's (rank 0's): the reason for sync_bn, see below.


# --------------------------------------------------------------------------
# BatchNorm statistics
# --------------------------------------------------------------------------
def test_without_sync_bn_validation_scores_another_model(cpu_run):
    """Why the configs set sync_bn: DDP keeps parameters equal, but with
    plain BatchNorm (and MMEngine's broadcast_buffers=False) every rank
    keeps running statistics of its own data, so validation (each rank
    scores its share with its own statistics) is not the saved model's
    score (rank 0's statistics, scored by the test run)."""
    _, ranks = cpu_run
    for rank in ranks:
        assert rank['full']['val_metrics'][-1] != rank['test_metrics']
    states = [rank['full']['state'] for rank in ranks]
    statistics = [k for k in states[0] if is_bn_statistic(k)]
    assert statistics
    differ = [k for k in statistics
              if not torch.equal(states[0][k], states[1][k])]
    assert len(differ) == len(statistics)
    assert_same_state(parameters(states[0]), parameters(states[1]),
                      'parameters')


def test_sync_bn_converts_batchnorm_only_when_distributed(cpu_run, tmp_path,
                                                          on_cpu):
    root, ranks = cpu_run
    cfg = single_process_cfg(root, tmp_path, sync_bn='torch')
    single = bn_layers(Runner.from_cfg(cfg).model)
    assert single['SyncBatchNorm'] == 0 and single['BatchNorm'] > 0
    for rank in ranks:
        assert rank['sync_bn_layers'] == dict(
            SyncBatchNorm=single['BatchNorm'], BatchNorm=0)


def running_stat_modules(model):
    return [name for name, m in model.named_modules()
            if getattr(m, 'running_mean', None) is not None]


@pytest.mark.parametrize('name', REAL_CONFIGS + (
    'configs/odir5k_multilabel/'
    'efficientnetv2-s_in1k-pre_1xb32-asl-100e_odir5k-patient.py', ))
def test_config_backbones_convert_every_batchnorm(name):
    """Every layer with running statistics, EfficientNetV2's included,
    becomes a SyncBatchNorm when the Runner applies ``sync_bn``."""
    cfg = Config.fromfile(str(REPO / name))
    assert cfg.sync_bn == 'torch'
    model = MODELS.build(cfg.model)
    with_stats = running_stat_modules(model)
    assert len(with_stats) > 50
    converted = convert_sync_batchnorm(model, cfg.sync_bn)
    assert running_stat_modules(converted) == with_stats
    assert bn_layers(converted) == dict(SyncBatchNorm=len(with_stats),
                                        BatchNorm=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_sync_bn_ranks_agree_and_validation_scores_the_saved_model(
        tmp_path):
    """Both processes share the first GPU (gloo), so one GPU suffices.
    TF32 convolutions are off in the workers and here: the comparison is
    at float32."""
    make_data(tmp_path)
    ranks = launch(tmp_path, 'gpu', cpu=False)
    runs = [rank['gpu'] for rank in ranks]
    for run in runs:
        assert run['device'].startswith('cuda')
        assert run['layers']['SyncBatchNorm'] > 0
        assert run['layers']['BatchNorm'] == 0
    assert_same_state(runs[0]['state'], runs[1]['state'], 'ranks')
    for rank in ranks:  # resumed: every rank, BatchNorm statistics included
        resumed = rank['gpu_resumed']['state']
        assert resumed.keys() == rank['gpu']['state'].keys()
        for key, value in rank['gpu']['state'].items():
            # GPU kernels may add in another order from run to run
            torch.testing.assert_close(resumed[key], value, msg=key)
    for name in REAL_CONFIGS:
        model = MODELS.build(Config.fromfile(str(REPO / name)).model)
        layers = bn_layers(model)
        for rank in ranks:
            assert rank['real_configs'][name] == dict(
                wrapper='MMDistributedDataParallel', sync_bn='torch',
                SyncBatchNorm=layers['BatchNorm'], BatchNorm=0)
    saved = saved_state(tmp_path / 'gpu/epoch_2.pth')
    assert_same_state(saved, runs[0]['state'], 'saved vs trained')
    # the last validation scored the saved model
    validated = runs[0]['val_metrics'][-1]
    assert runs[1]['val_metrics'] == runs[0]['val_metrics']
    cfg = single_process_cfg(tmp_path, tmp_path / 'single',
                             load_from=str(tmp_path / 'gpu/epoch_2.pth'))
    with torch.backends.cudnn.flags(enabled=True, benchmark=False,
                                    deterministic=True, allow_tf32=False):
        expected = Runner.from_cfg(cfg).test()
    assert_same_metrics(validated, expected, rel=1e-4)
