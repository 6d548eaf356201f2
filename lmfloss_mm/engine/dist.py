"""Run MMEngine's distributed code paths with the gloo backend, on CPUs or on
one shared GPU.

``mim train ... --launcher pytorch`` (``torchrun`` + MMEngine's
``init_dist('pytorch')``) needs one GPU per process: MMEngine 0.10.7 calls
``torch.cuda.set_device(LOCAL_RANK)`` before ``init_process_group`` whatever
the backend, and ``Runner.wrap_model`` gives ``MMDistributedDataParallel``
``device_ids=[LOCAL_RANK]``, which DDP rejects for a model on the CPU. This
module is the smallest change that lets the same Runner, hooks, samplers and
metrics run as several processes on a machine without GPUs (as in the tests
under ``tests/distributed``):

1. :func:`init_gloo_process_group` initialises the default process group
   with gloo from the variables ``torchrun`` sets, without touching CUDA.
   ``Runner.setup_env`` then finds the group initialised and skips
   ``init_dist``; everything else (``launcher='pytorch'``, DDP, samplers,
   ``collect_results``) is MMEngine's own code.
2. :func:`gloo_runner_cfg` sets ``launcher='pytorch'`` and a DDP wrapper
   without ``device_ids``, which DDP accepts for a model on the CPU and for
   a model on one GPU; its other arguments are the ones ``wrap_model``
   gives by default (``broadcast_buffers=False``, the config's
   ``find_unused_parameters``).

Example, started with ``torchrun --nproc_per_node 2 script.py``::

    from mmengine.config import Config
    from mmengine.runner import Runner
    from lmfloss_mm.engine.dist import gloo_runner_cfg, init_gloo_process_group

    init_gloo_process_group()
    cfg = Config.fromfile(CONFIG)
    cfg.sync_bn = None  # SyncBatchNorm trains on GPUs only
    Runner.from_cfg(gloo_runner_cfg(cfg)).train()

To run on the CPU when a GPU is visible, hide it with
``CUDA_VISIBLE_DEVICES=''``. PyTorch's ``SyncBatchNorm`` refuses CPU tensors
in training mode (and DDP refuses SyncBatchNorm layers in a CPU model), so on
CPUs a config's ``sync_bn`` must be ``None``, and then every process keeps
its own BatchNorm running statistics.
"""
import os
from datetime import timedelta

import torch
import torch.distributed as dist
from mmengine.config import Config

#: The variables ``torchrun`` sets for every process.
TORCHRUN_VARIABLES = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR',
                      'MASTER_PORT')


def init_gloo_process_group(timeout_s: float = 300.0) -> None:
    """Initialise the default process group with gloo from the environment.

    Does nothing if the group is already initialised.

    Args:
        timeout_s (float): seconds a collective operation may wait for the
            other processes before it fails. Defaults to 300.

    Raises:
        RuntimeError: if a ``torchrun`` variable (``RANK``, ``WORLD_SIZE``,
            ``MASTER_ADDR``, ``MASTER_PORT``) is not set.
    """
    if dist.is_initialized():
        return
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            f'init_gloo_process_group: {", ".join(missing)} not set. Start '
            'the script with torchrun --nproc_per_node N, or set RANK, '
            'WORLD_SIZE, MASTER_ADDR and MASTER_PORT for every process.')
    dist.init_process_group(
        backend='gloo', init_method='env://',
        timeout=timedelta(seconds=timeout_s))


def gloo_runner_cfg(cfg: Config) -> Config:
    """A copy of ``cfg`` for a Runner in a group from
    :func:`init_gloo_process_group`: ``launcher='pytorch'`` and
    ``model_wrapper_cfg=dict(type='MMDistributedDataParallel',
    device_ids=None, broadcast_buffers=False,
    find_unused_parameters=cfg.find_unused_parameters (default False))``,
    i.e. MMEngine's default wrapper without ``device_ids``.

    Args:
        cfg (Config): the run's config; the keys of a ``model_wrapper_cfg``
            in it other than ``device_ids`` are kept.

    Raises:
        ValueError: if ``cfg.sync_bn`` is set and no GPU is visible (DDP
            refuses SyncBatchNorm layers in a model on the CPU).
    """
    if cfg.get('sync_bn') is not None and not torch.cuda.is_available():
        raise ValueError(
            f"sync_bn={cfg.sync_bn!r} needs GPUs: torch.nn.SyncBatchNorm "
            'does not train on the CPU. Set cfg.sync_bn = None (or '
            '--cfg-options sync_bn=None) for a CPU run; each process then '
            'keeps its own BatchNorm statistics.')
    cfg = cfg.copy()
    cfg.launcher = 'pytorch'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return cfg


__all__ = ['init_gloo_process_group', 'gloo_runner_cfg', 'TORCHRUN_VARIABLES']
