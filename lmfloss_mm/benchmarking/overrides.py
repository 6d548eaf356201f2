"""Config edits for benchmark runs: training from scratch, mixed precision,
input size and data loading.

The paper configs initialise the backbone from ImageNet weights, train in
float32 at 224 px and decode every image in every epoch with 4 loader
workers.  The benchmark tools change these with one function each, so that
every tool applies a change the same way:

* :func:`drop_pretrained_init`: remove ``init_cfg=dict(type='Pretrained')``
  so the modules use their own default initialisation;
* :func:`use_amp`: train with MMEngine's ``AmpOptimWrapper`` (autocast to
  ``bfloat16`` or ``float16``, CUDA only);
* :func:`set_image_size`: square input size of the pipelines' ``Resize``;
* :func:`set_loader_options`: the number of data-loader workers and the
  datasets' ``cache_images`` option
  (:class:`lmfloss_mm.datasets.SplitImageDataset`).
"""
from typing import List, Optional

from mmengine.config import Config, ConfigDict

#: Mixed-precision types accepted by :func:`use_amp` (``AmpOptimWrapper``'s
#: ``dtype`` names) and their short names.
AMP_DTYPES = dict(bf16='bfloat16', fp16='float16', bfloat16='bfloat16',
                  float16='float16')
#: The dataloaders of a training config.
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _is_pretrained(init_cfg) -> bool:
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'


def drop_pretrained_init(cfg: Config) -> List[str]:
    """Remove every ``Pretrained`` ``init_cfg`` from ``cfg.model``.

    A module whose ``init_cfg`` was a single ``Pretrained`` entry loses the
    key and gets its class's default initialisation (for MMPretrain's
    ``ResNet``: Kaiming for convolutions, 1 for normalisation weights); from
    a list of ``init_cfg`` entries only the ``Pretrained`` ones are removed.

    Args:
        cfg (Config): A training config; changed in place.

    Returns:
        list[str]: The checkpoints that are no longer loaded.
    """
    removed = []

    def visit(node):
        if isinstance(node, dict):
            init_cfg = node.get('init_cfg')
            if _is_pretrained(init_cfg):
                removed.append(init_cfg.get('checkpoint'))
                node.pop('init_cfg')
            elif isinstance(init_cfg, list) and any(
                    _is_pretrained(c) for c in init_cfg):
                removed.extend(c.get('checkpoint') for c in init_cfg
                               if _is_pretrained(c))
                node['init_cfg'] = [c for c in init_cfg
                                    if not _is_pretrained(c)]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(cfg.model)
    return removed


def use_amp(cfg: Config, dtype: str = 'bfloat16') -> None:
    """Train ``cfg`` with ``AmpOptimWrapper`` (autocast to ``dtype``).

    MMEngine's ``AmpOptimWrapper`` runs forward and loss under
    ``torch.autocast`` and backward with a ``GradScaler``; it refuses to be
    built without CUDA (or another accelerator MMEngine supports).  The
    project's losses compute in float32 under autocast.

    Args:
        cfg (Config): A training config; changed in place.
        dtype (str): ``'bf16'`` / ``'bfloat16'`` or ``'fp16'`` /
            ``'float16'``. Defaults to ``'bfloat16'``.

    Raises:
        ValueError: An unknown ``dtype``, or an ``optim_wrapper`` of another
            type than ``OptimWrapper`` / ``AmpOptimWrapper``.
    """
    if dtype not in AMP_DTYPES:
        raise ValueError(f'Unknown mixed-precision dtype {dtype!r}; choose '
                         f'one of {", ".join(sorted(AMP_DTYPES))}.')
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    if kind not in ('OptimWrapper', 'AmpOptimWrapper'):
        raise ValueError(
            f'optim_wrapper is a {kind}; mixed precision is set here only '
            'for OptimWrapper configs. Set its type and dtype in the config.')
    wrapper.type = 'AmpOptimWrapper'
    wrapper.dtype = AMP_DTYPES[dtype]


def set_image_size(cfg: Config, size: int) -> None:
    """Make every ``Resize`` of the train/val/test pipelines square
    ``size`` (changes ``cfg`` in place)."""
    for name in DATALOADERS:
        loader = cfg.get(name)
        if not isinstance(loader, (dict, ConfigDict)):
            continue
        for dataset in _leaf_datasets(loader.dataset):
            for transform in dataset.get('pipeline', []):
                if transform.get('type') == 'Resize':
                    transform.scale = (size, size)


def set_loader_options(cfg: Config,
                       num_workers: Optional[int] = None,
                       cache_images: bool = False) -> None:
    """Set the workers and the image cache of every dataloader in ``cfg``.

    Args:
        cfg (Config): A config with ``train/val/test_dataloader`` (those
            absent are skipped); changed in place.
        num_workers (int, optional): Loader processes per dataloader; 0
            loads in the main process.  ``persistent_workers`` is set to
            ``num_workers > 0`` (PyTorch refuses persistent workers without
            workers). Defaults to None (unchanged).
        cache_images (bool): Set ``cache_images=True`` on every dataset
            (see :class:`lmfloss_mm.datasets.SplitImageDataset`).
            Defaults to False (unchanged).
    """
    if num_workers is not None and num_workers < 0:
        raise ValueError(f'num_workers must be >= 0, got {num_workers}')
    for name in DATALOADERS:
        loader = cfg.get(name)
        if not isinstance(loader, (dict, ConfigDict)):
            continue
        if num_workers is not None:
            loader.num_workers = num_workers
            loader.persistent_workers = num_workers > 0
        if cache_images:
            for dataset in _leaf_datasets(loader.dataset):
                dataset.cache_images = True


def _leaf_datasets(dataset) -> list:
    """The datasets inside MMEngine's dataset wrappers (``RepeatDataset``,
    ``ClassBalancedDataset``: ``dataset``; ``ConcatDataset``:
    ``datasets``)."""
    if 'datasets' in dataset:
        return [d for part in dataset.datasets for d in _leaf_datasets(part)]
    if 'dataset' in dataset:
        return _leaf_datasets(dataset.dataset)
    return [dataset]
