"""Training throughput of a config: images per second of forward, loss,
backward and optimizer step.

The model, its data preprocessor and its optimizer wrapper are built from a
training config with MMEngine's builders, and every step is the Runner's
own ``model.train_step(batch, optim_wrapper)``, so the measured step is the
one a training run executes.  Two sources of batches:

* :func:`resident_batches`: one batch of random uint8 images and labels
  built on the device once and fed again and again, so the number is the
  model's (data preprocessing on the device included, no loading);
* :func:`loader_batches`: the config's real pipeline through MMEngine's
  dataloader (``Runner.build_dataloader``), so that the difference to the
  first shows the loader's share.

Timing (:func:`measure`): ``warmup`` steps first (cuDNN set-up, allocator
growth, loader start), then ``steps`` steps between two
``torch.cuda.synchronize()`` calls (none on the CPU), so the time includes
all queued GPU work and no step is synchronised in between.
"""
import copy
import itertools
import time
from typing import Callable, Dict, Iterator, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .overrides import drop_pretrained_init, use_amp

#: Start of ``tools/benchmark_throughput.py``'s output line that lists (as
#: JSON) the measurements skipped for the time budget.
SKIPPED_PREFIX = 'Skipped (budget): '


def build_training(cfg: Config,
                   class_counts: Sequence[int],
                   device: str = 'cuda',
                   amp: Optional[str] = None,
                   channels_last: bool = False,
                   from_scratch: bool = True):
    """Build the model and optimizer wrapper of a training config.

    Args:
        cfg (Config): A training config (not changed; a copy is edited).
        class_counts (Sequence[int]): Training-set class counts, given to
            every module built with ``cls_num_list='auto'`` (what
            ``SetClassCountsHook`` does before a Runner trains).
        device (str): ``'cuda'`` or ``'cpu'``. Defaults to ``'cuda'``.
        amp (str, optional): ``AmpOptimWrapper`` dtype (``'bfloat16'``,
            ``'float16'``, or their short names); None trains in float32.
            Defaults to None.
        channels_last (bool): Convert the model to
            ``torch.channels_last``; convolutions then run in NHWC (inputs
            follow the weights' layout). Defaults to False.
        from_scratch (bool): Remove ``Pretrained`` initialisation
            (:func:`~lmfloss_mm.benchmarking.overrides.drop_pretrained_init`)
            so no weights are downloaded. Defaults to True.

    Returns:
        tuple: ``(model, optim_wrapper)``, the model in train mode on
        ``device``.
    """
    cfg = copy.deepcopy(cfg)
    if from_scratch:
        drop_pretrained_init(cfg)
    if amp:
        use_amp(cfg, amp)
    model = MODELS.build(cfg.model)
    model.init_weights()
    targets = [m for m in model.modules()
               if getattr(m, 'auto_class_counts', False)]
    for module in targets:
        module.set_class_counts(list(class_counts))
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, optim_wrapper


def resident_batches(batch_size: int,
                     img_size: int,
                     class_counts: Sequence[int],
                     device: str = 'cuda',
                     seed: int = 0) -> Iterator[dict]:
    """The same batch forever: random uint8 ``(N, 3, H, W)`` images and
    labels drawn with the class frequencies, both already on ``device``."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch_size, 3, img_size, img_size),
                           dtype=torch.uint8, generator=generator)
    freq = torch.as_tensor(class_counts, dtype=torch.float64)
    labels = torch.multinomial(freq / freq.sum(), batch_size,
                               replacement=True, generator=generator)
    batch = dict(
        inputs=images.to(device),
        data_samples=[DataSample().set_gt_label(int(label)).to(device)
                      for label in labels])
    return itertools.repeat(batch)


def loader_batches(dataloader) -> Iterator[dict]:
    """The batches of ``dataloader``, epoch after epoch."""
    return itertools.chain.from_iterable(itertools.repeat(dataloader))


def synchronize(device: str) -> None:
    if str(device).startswith('cuda'):
        torch.cuda.synchronize(device)


def measure(model,
            optim_wrapper: OptimWrapper,
            batches: Iterator[dict],
            steps: int,
            warmup: int,
            device: str = 'cuda',
            clock: Callable[[], float] = time.perf_counter) -> dict:
    """Time ``steps`` training steps after ``warmup`` untimed ones.

    Args:
        model: An MMEngine model (``train_step(data, optim_wrapper)``).
        optim_wrapper (OptimWrapper): Its optimizer wrapper.
        batches (Iterator[dict]): Batches as a dataloader yields them.
        steps (int): Timed steps (>= 1).
        warmup (int): Untimed steps before (>= 0).
        device (str): Device to synchronise. Defaults to ``'cuda'``.
        clock (Callable): Time source. Defaults to ``time.perf_counter``.

    Returns:
        dict: ``images_per_s``, ``step_ms`` (mean), ``images`` and
        ``seconds`` of the timed steps, ``steps``, ``warmup``, the total
        ``loss`` of the last step and, on CUDA, ``peak_mem_gib`` (the most
        memory allocated during the timed steps).
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f'need steps >= 1 and warmup >= 0, got {steps}, '
                         f'{warmup}')
    cuda = str(device).startswith('cuda')
    losses = {}
    for _ in range(warmup):
        losses = model.train_step(next(batches), optim_wrapper)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    synchronize(device)
    images = 0
    start = clock()
    for _ in range(steps):
        batch = next(batches)
        images += len(batch['data_samples'])
        losses = model.train_step(batch, optim_wrapper)
    synchronize(device)
    seconds = clock() - start
    result = dict(images_per_s=images / seconds,
                  step_ms=1e3 * seconds / steps, images=images,
                  seconds=seconds, steps=steps, warmup=warmup,
                  loss=float(losses['loss'].detach()))
    if cuda:
        result['peak_mem_gib'] = torch.cuda.max_memory_allocated(device) / \
            2**30
    return result


def build_train_loader(cfg: Config,
                       data_root: str,
                       split: str,
                       num_workers: int,
                       cache_images: bool = False,
                       batch_size: Optional[int] = None,
                       seed: int = 0,
                       **dataset_options):
    """The config's training dataloader over ``data_root`` / ``split``,
    built by ``Runner.build_dataloader`` (sampler, collate function and
    worker seeding as in training).

    Args:
        cfg (Config): A training config (not changed).
        data_root (str): The dataset's ``data_root``.
        split (str): The dataset's ``split``.
        num_workers (int): Loader processes (persistent when > 0).
        cache_images (bool): The dataset's ``cache_images``.
            Defaults to False.
        batch_size (int, optional): Defaults to the config's.
        seed (int): Seed of the sampler and workers. Defaults to 0.
        **dataset_options: Further dataset arguments (e.g. ``split_file``).
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    loader = copy.deepcopy(cfg.train_dataloader)
    loader.dataset.update(data_root=data_root, split=split,
                          cache_images=cache_images, **dataset_options)
    loader.num_workers = num_workers
    loader.persistent_workers = num_workers > 0
    if batch_size:
        loader.batch_size = batch_size
    # registry scope as in a Runner of this config
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        return Runner.build_dataloader(loader.to_dict(), seed=seed)


def class_counts_of(dataset, num_classes: int) -> list:
    """Images per class of a dataset (its ``get_gt_labels``)."""
    labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
    return np.bincount(labels, minlength=num_classes).tolist()


def median_of(results: Sequence[Dict]) -> Dict:
    """The result with the median ``images_per_s`` (the lower one of an
    even count), with every repeat's ``images_per_s`` listed."""
    ordered = sorted(results, key=lambda r: r['images_per_s'])
    out = dict(ordered[(len(ordered) - 1) // 2])
    out['repeats'] = [round(r['images_per_s'], 1) for r in results]
    return out
