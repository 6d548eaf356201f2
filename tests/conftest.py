"""Fixtures shared by the whole suite.

* every test: one torch thread, MMEngine config parsing without repeated
  metafile scans and yapf formatting (:func:`fast_config_parsing`), split
  files written for read-only roots kept in a temporary cache;
* :func:`load_tool`: a ``tools/<name>.py`` script as a module;
* :func:`make_image_folder`: a small image-folder dataset in which the
  class decides the colour;
* :func:`shrink_config`: a shipped config made cheap enough to run an
  iteration on generated data (with ``free_runners``, so that a module of
  such runs does not keep every model in memory);
* :func:`assert_png`: a written figure is a valid, non-blank PNG;
* ``batch``: logits and targets of an imbalanced 5-class problem;
* ``shared_data``: the real data next to the repository (the test is
  skipped when it is absent).

The ``slow`` marker (``pytest.ini``) marks end-to-end tests that run the
training scripts in subprocesses; ``python -m pytest -m "not slow"`` is
the quick run, ``python -m pytest`` runs everything.
"""
import gc
import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lmfloss_mm  # noqa: F401  (registers the project's modules)

REPO = Path(__file__).resolve().parents[1]
#: ``<repo>/../shared/data``: real annotation files and images, when present
SHARED_DATA = REPO.parent / 'shared' / 'data'
#: Class counts of the ``batch`` fixture.
BATCH_COUNTS = [500, 120, 40, 9, 3]
_RUN_IDS = itertools.count()


# ------------------------------------------------------------- every test
@pytest.fixture(autouse=True, scope='session')
def one_torch_thread():
    """Tiny models and batches: one intra-op thread is as fast on an idle
    machine and many times faster on a loaded one (OpenMP threads spin
    waiting for a core). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope='session')
def fast_config_parsing():
    """Test-only speed-ups of MMEngine that leave every config value as it
    is: (1) ``mmpretrain::`` base paths make MMEngine read all ~170
    mmpretrain metafiles on every lookup (about 1 s per config): the
    lookups are memoised; (2) ``Config.pretty_text`` runs yapf several
    times per runner (log and dump): formatting is skipped."""
    from mmengine.config import config as config_module
    from mmengine.config import utils as config_utils
    original, format_code = (config_utils._get_cfg_metainfo,
                             config_module.FormatCode)
    cache = {}

    def cached_metainfo(package_path, cfg_path):
        key = (package_path, cfg_path)
        if key not in cache:
            try:
                cache[key] = original(package_path, cfg_path)
            except ValueError as error:  # a base config: not in metafiles
                cache[key] = error.args
                raise
        if isinstance(cache[key], tuple):
            # a new error each time: a cached one would keep the traceback
            # (and through it every caller's frame and runner) alive
            raise ValueError(*cache[key])
        return cache[key]

    config_utils._get_cfg_metainfo = cached_metainfo
    config_module.FormatCode = lambda text, **kwargs: (text, False)
    yield
    config_utils._get_cfg_metainfo = original
    config_module.FormatCode = format_code


@pytest.fixture(autouse=True)
def split_cache(tmp_path, monkeypatch):
    """Split files written for read-only data roots go to a temporary
    cache, not ``~/.cache``."""
    cache = tmp_path / 'lmfloss_cache'
    monkeypatch.setenv('LMFLOSS_MM_CACHE', str(cache))
    return cache


# ----------------------------------------------------------------- helpers
def load_tool_module(name: str):
    """``tools/<name>.py`` as a module (its ``main(argv)`` is the CLI)."""
    spec = importlib.util.spec_from_file_location(
        f'_tool_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def load_tool():
    """``load_tool(name)``: ``tools/<name>.py`` as a module."""
    return load_tool_module


def make_image_folder(root, counts, size=16, seed=0, noise=40.0,
                      grey_levels=False):
    """``root/[<split>/]<class>/<i>.png``: noisy images whose mean colour
    depends on the class (so a tiny model can learn something).

    Args:
        root (str | Path): Output folder.
        counts (Mapping): class name -> images, or split name -> (class
            name -> images) for one sub-folder per split.
        size (int): Side of the square images. Defaults to 16.
        seed (int): Seed of the noise. Defaults to 0.
        noise (float): Std of the pixel noise. Defaults to 40.
        grey_levels (bool): Class ``k`` has pixels ``70 k + U{0..99}``
            (uniform per channel; ``noise`` unused) instead of a colour:
            brightness alone tells the classes apart and a tiny model's
            accuracy rises epoch by epoch, which the checkpoint tests of
            ``tests/engine`` rely on. Defaults to False.

    Returns:
        Path: ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    splits = counts if all(isinstance(v, dict) for v in counts.values()) \
        else {'': counts}
    for split, per_class in splits.items():
        for index, (name, n) in enumerate(per_class.items()):
            colour = np.roll([200.0, 60.0, 60.0], index) + 20 * (index // 3)
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = 70 * index + rng.integers(0, 100, (size, size, 3)) \
                    if grey_levels else \
                    colour + rng.normal(0, noise, (size, size, 3))
                Image.fromarray(np.clip(pixels, 0, 255).astype(
                    np.uint8)).save(folder / f'{i}.png')
    return root


def assert_png(path, min_width=300, min_height=250):
    """A valid, non-blank PNG of plausible size."""
    path = Path(path)
    assert path.is_file() and path.stat().st_size > 5000, path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == 'PNG'
        width, height = image.size
        assert min_width <= width <= 6000 and min_height <= height <= 6000
        pixels = np.asarray(image.convert('L'), dtype=np.float64)
    assert pixels.std() > 5, f'{path} looks blank'


def shrink_config(cfg, data_root, work_dir, image_size=32, square=False,
                  train_batch=4, test_batch=32):
    """A shipped config pointed at generated data and made cheap: no
    pretrained weights, one training iteration then validation, small
    images (shortest side ``image_size``; ``square``: every ``Resize`` to
    ``image_size`` x ``image_size``) and batches, no checkpoints, quiet
    logs."""
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'test_{next(_RUN_IDS)}'
    cfg.model.backbone.init_cfg = None  # no download in tests
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=train_batch if split == 'train' else
                      test_batch, num_workers=0, persistent_workers=False)
        loader.dataset.data_root = data_root
        loader.dataset.serialize_data = False  # skips a gc.collect()
        for transform in loader.dataset.pipeline:
            if transform.type == 'Resize':
                transform.scale = (image_size, image_size) if square else \
                    tuple(image_size * side // min(transform.scale)
                          for side in transform.scale)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1,
                         val_interval=1)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.fixture
def free_runners():
    """Collect garbage after the test: an MMEngine Runner holds reference
    cycles, so a module that builds dozens of them (one per config) keeps
    every model in memory until a collection. (``shrink_config`` turns off
    the datasets' serialisation, whose ``gc.collect()`` would otherwise do
    it, slowly, for every dataset.)"""
    yield
    gc.collect()


@pytest.fixture
def batch():
    """Logits, hard labels, soft labels and counts of an imbalanced 5-class
    problem, with every class present (float64 for exact comparisons)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=g, dtype=torch.float64) * 2
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 0, 1, 2, 0, 3, 4])
    soft = torch.softmax(torch.randn(12, 5, generator=g) * 3, dim=1)
    return logits, labels, soft.double(), list(BATCH_COUNTS)


@pytest.fixture
def shared_data():
    """``<repo>/../shared/data``; the test is skipped without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f'real data not available ({SHARED_DATA})')
    return SHARED_DATA
