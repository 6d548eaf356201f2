"""One rank of the 2-process (gloo) tests of distributed training.

Run as ``python dist_train_worker.py SCENARIO ROOT`` in every process, with
``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set as
``torchrun`` sets them (``launch.run_ranks`` does). ``ROOT`` holds the image
folders ``train`` and ``val`` made by the test; every rank writes what it saw
to ``ROOT/<SCENARIO>_rank<RANK>.pt`` (tensors, lists and numbers only).

Scenarios:

* ``cpu``: the project's samplers under a real process group; a 2-epoch run
  of :func:`train_cfg` (``full``); the same run stopped in its second epoch
  and resumed (``resumed``); a test of ``full``'s last checkpoint; the tiny
  model built with ``sync_bn='torch'`` (in :class:`BuildOnlyWrapper`: DDP
  refuses SyncBatchNorm layers on the CPU).
* ``gpu``: the 2-epoch run and the stopped and resumed run with
  ``sync_bn='torch'``, both processes on the visible GPU
  (``torch.nn.SyncBatchNorm`` trains on GPUs only); the real ResNet-50 /
  EfficientNetV2-S configs built for distributed training.
"""
import os
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: real configs built in the ``gpu`` scenario
REAL_CONFIGS = (
    'configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py',
    'configs/ham10000/efficientnetv2-s_in1k-pre_1xb32-lmf-100e_ham10000.py',
)
#: (epoch, batch index) before which the interrupted run stops
STOP_AT = (1, 1)
DRW_START_EPOCH = 1
VAL_COUNTS = (6, 4, 3)  # 13 images: DefaultSampler pads 2 ranks to 14


def train_cfg(root, work_dir, **overrides):
    """The tiny run: LMFLoss and ImbalancedClsMetric with ``'auto'`` counts,
    SetClassCountsHook, DeferredReweightingHook from epoch 1,
    ClassAwareSampler, 2 epochs, validation every epoch (plain dict)."""
    from tests.engine.tiny_runner import runner_config
    root = Path(root)
    cfg = runner_config(
        str(root / 'train'), work_dir, max_epochs=2,
        evaluator=dict(type='ImbalancedClsMetric', cls_num_list='auto'))
    for split in ('val', 'test'):
        cfg[f'{split}_dataloader']['dataset']['data_root'] = str(root / 'val')
    cfg['train_dataloader']['sampler'] = dict(type='ClassAwareSampler')
    cfg['custom_hooks'].append(
        dict(type='DeferredReweightingHook', start_epoch=DRW_START_EPOCH))
    cfg.update(overrides)
    return cfg


def register_build_only_wrapper():
    """``model_wrapper_cfg=dict(type='BuildOnlyWrapper')`` keeps the model
    the Runner built (SyncBatchNorm layers included) without DDP."""
    import torch.nn as nn
    from mmengine.registry import MODEL_WRAPPERS

    @MODEL_WRAPPERS.register_module(force=True)
    class BuildOnlyWrapper(nn.Module):

        def __init__(self, module):
            super().__init__()
            self.module = module


def main(scenario, root):
    import torch
    import torch.distributed as dist
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    import lmfloss_mm  # noqa: F401
    from lmfloss_mm.engine.dist import gloo_runner_cfg, init_gloo_process_group

    init_gloo_process_group(timeout_s=120)
    root = Path(root)

    class Recorder(Hook):
        """What the loss and the val metric hold, epoch by epoch."""
        priority = 'LOWEST'  # after SetClassCountsHook and DRW

        def __init__(self):
            self.class_weight, self.val_metrics = [], []
            self.loss_counts = self.metric_counts = None

        def before_train_epoch(self, runner):
            loss = runner.model.module.head.loss_module
            self.loss_counts = loss.class_counts.cpu().tolist()
            self.metric_counts = list(
                runner.val_evaluator.metrics[0].cls_num_list)
            weight = loss.class_weight
            self.class_weight.append(
                None if weight is None else weight.cpu().tolist())

        def after_val_epoch(self, runner, metrics=None):
            self.val_metrics.append(dict(metrics))

    class Stopper(Hook):
        """Stands for a job killed in the middle of an epoch."""
        priority = 'LOWEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if (runner.epoch, batch_idx) == STOP_AT:
                raise KeyboardInterrupt

    def train(work_dir, *extra_hooks, **overrides):
        cfg = gloo_runner_cfg(Config(train_cfg(root, work_dir, **overrides)))
        runner = Runner.from_cfg(cfg)
        recorder = Recorder()
        for hook in (recorder, ) + extra_hooks:
            runner.register_hook(hook)
        runner.train()
        state = {k: v.detach().cpu().clone()
                 for k, v in runner.model.module.state_dict().items()}
        return runner, recorder, state

    def stop_and_resume(work_dir, **overrides):
        try:
            train(work_dir, Stopper(), **overrides)
            raise AssertionError(f'the run did not stop at {STOP_AT}')
        except KeyboardInterrupt:
            pass
        dist.barrier()  # rank 0 has written the last checkpoint
        _, recorder, state = train(work_dir, resume=True, **overrides)
        return dict(class_weight=recorder.class_weight, state=state)

    warnings.simplefilter('ignore')
    out = {}
    if scenario == 'cpu':
        out['samplers'] = sampler_shares(root / 'val')

        runner, recorder, state = train(root / 'full')
        out['full'] = dict(
            wrapper=type(runner.model).__name__,
            loss_counts=recorder.loss_counts,
            metric_counts=recorder.metric_counts,
            shard_counts=shard_counts(runner),
            class_weight=recorder.class_weight,
            val_metrics=recorder.val_metrics,
            state=state)

        out['resumed'] = stop_and_resume(root / 'resumed')

        cfg = gloo_runner_cfg(Config(train_cfg(
            root, root / 'test', load_from=str(root / 'full/epoch_2.pth'))))
        out['test_metrics'] = Runner.from_cfg(cfg).test()

        register_build_only_wrapper()
        cfg = gloo_runner_cfg(Config(train_cfg(root, root / 'sync_bn')))
        cfg.sync_bn = 'torch'  # gloo_runner_cfg refuses it on the CPU
        cfg.model_wrapper_cfg = dict(type='BuildOnlyWrapper')
        out['sync_bn_layers'] = bn_layers(Runner.from_cfg(cfg).model.module)
    elif scenario == 'gpu':
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.allow_tf32 = False  # float32 convolutions
        runner, recorder, state = train(root / 'gpu', sync_bn='torch')
        out['gpu'] = dict(
            device=str(next(runner.model.parameters()).device),
            layers=bn_layers(runner.model.module),
            val_metrics=recorder.val_metrics,
            state=state)
        out['gpu_resumed'] = stop_and_resume(root / 'gpu_resumed',
                                             sync_bn='torch')
        out['real_configs'] = real_config_layers(root, gloo_runner_cfg)
    else:
        raise ValueError(f'unknown scenario {scenario!r}')
    torch.save(out, root / f'{scenario}_rank{dist.get_rank()}.pt')
    dist.barrier()
    dist.destroy_process_group()


def sampler_shares(data_root):
    """Each sampler's share of this rank in epochs 0 and 1 (seed=None: the
    seed is rank 0's, broadcast)."""
    from mmpretrain.datasets import CustomDataset

    from lmfloss_mm.datasets.samplers import (ClassAwareSampler,
                                              ClassBalancedSampler,
                                              SqrtSampler)
    dataset = CustomDataset(data_root=str(data_root), pipeline=[])
    samplers = dict(
        ClassBalancedSampler=ClassBalancedSampler(dataset, power=1.0),
        ClassAwareSampler=ClassAwareSampler(dataset),
        SqrtSampler=SqrtSampler(dataset))
    shares = {}
    for name, sampler in samplers.items():
        epochs = []
        for epoch in (0, 1):
            sampler.set_epoch(epoch)
            epochs.append(list(sampler))
        shares[name] = dict(seed=sampler.seed, len=len(sampler),
                            epochs=epochs)
    return shares


def shard_counts(runner):
    """Class counts of the indices this rank trained on in epoch 0."""
    import numpy as np
    sampler = runner.train_dataloader.sampler
    sampler.set_epoch(0)
    labels = np.asarray(runner.train_dataloader.dataset.get_gt_labels())
    return np.bincount(labels[list(sampler)], minlength=3).tolist()


def bn_layers(model):
    """``{'SyncBatchNorm': n, 'BatchNorm': n}`` over ``model.modules()``."""
    import torch.nn as nn
    sync = sum(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    plain = sum(
        isinstance(m, nn.modules.batchnorm._BatchNorm)
        and not isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    return dict(SyncBatchNorm=sync, BatchNorm=plain)


def real_config_layers(root, gloo_runner_cfg):
    """The wrapper and BatchNorm layers of the real configs' distributed
    models (built, not trained: no weights are downloaded)."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    layers = {}
    for name in REAL_CONFIGS:
        cfg = gloo_runner_cfg(Config.fromfile(str(REPO / name)))
        cfg.work_dir = str(root / 'real' / Path(name).stem)
        cfg.log_level = 'WARNING'
        runner = Runner.from_cfg(cfg)
        layers[name] = dict(wrapper=type(runner.model).__name__,
                            sync_bn=cfg.get('sync_bn'),
                            **bn_layers(runner.model.module))
    return layers


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.path.insert(0, str(REPO))
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    main(sys.argv[1], sys.argv[2])
