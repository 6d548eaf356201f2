"""The demo: cross-entropy against LMF on a generated, imbalanced dataset
in the official HAM10000 layout (``tools/demo.py``).

What the data is: every image is a noisy "skin" background with one
"lesion" disk whose colour and size are drawn from a class-specific
Gaussian (:func:`draw_lesion`). The class distributions overlap (``df`` has
nearly the colour of ``nv`` and differs mainly in size), and the counts
(:data:`DEMO_COUNTS`) are HAM10000's class order at an imbalance ratio of
100, so the rare classes are easy to absorb into the frequent ones: the
situation LDAM margins and focal weighting address.
"""
import copy
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from lmfloss_mm.datasets.ham10000 import HAM10000_CLASSES
from lmfloss_mm.datasets.synthetic import make_fake_ham10000
from lmfloss_mm.results.labels import display
from lmfloss_mm.results.paired import paired
from lmfloss_mm.results.record import RunRecord
from lmfloss_mm.results.stats import format_mean_std, mean_std
from lmfloss_mm.results.tables import Table
from lmfloss_mm.runner.progress import RunProgress
from lmfloss_mm.runner.train_test import load_config
from .in_process import train_test_run

__all__ = ['DEMO_COUNTS', 'draw_lesion', 'make_demo_data', 'scaled_counts',
           'demo_config', 'run_demo', 'demo_table', 'seed_differences']

#: Images per class: HAM10000's order of frequency, imbalance ratio 100.
DEMO_COUNTS = dict(nv=4000, mel=600, bkl=500, bcc=250, akiec=150, vasc=80,
                   df=40)
#: Mean (hue-like RGB, radius) of each class's lesion, in HAM10000's class
#: order akiec, bcc, bkl, df, mel, nv, vasc. Neighbouring classes overlap.
LESION_COLOUR = np.array([[170, 90, 80], [185, 120, 120], [140, 100, 70],
                          [120, 80, 70], [90, 60, 55], [130, 85, 65],
                          [170, 60, 90]], dtype=float)
LESION_RADIUS = np.array([8, 10, 9, 6, 11, 9, 7], dtype=float)
#: Size of the generated images.
IMAGE_SIZE = 32
#: Fewest images of a class in :func:`scaled_counts` (enough lesions for a
#: training, validation and test share).
MIN_IMAGES = 14


def draw_lesion(class_index: int, rng: np.random.Generator,
                image_size: int) -> np.ndarray:
    """A noisy skin background with one disk of class-dependent colour and
    radius (both with Gaussian spread, so classes overlap)."""
    skin = np.array([210, 170, 150]) + rng.normal(0, 12, 3)
    image = skin + rng.normal(0, 18, (image_size, image_size, 3))
    colour = LESION_COLOUR[class_index] + rng.normal(0, 12, 3)
    radius = max(2.0, LESION_RADIUS[class_index] + rng.normal(0, 1.5))
    centre = image_size / 2 + rng.normal(0, 2, 2)
    yy, xx = np.mgrid[:image_size, :image_size]
    disk = (yy - centre[0])**2 + (xx - centre[1])**2 <= radius**2
    image[disk] = colour + rng.normal(0, 10, (disk.sum(), 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def scaled_counts(scale: float) -> Dict[str, int]:
    """:data:`DEMO_COUNTS` times ``scale`` (at least :data:`MIN_IMAGES`
    per class), for a quicker, noisier demo."""
    if not 0 < scale <= 1:
        raise ValueError(f'scale must be in (0, 1], got {scale}')
    return {name: max(MIN_IMAGES, int(round(n * scale)))
            for name, n in DEMO_COUNTS.items()}


def make_demo_data(root: str, counts: Mapping[str, int] = DEMO_COUNTS):
    """Write the demo's dataset (HAM10000 layout) to ``root``; returns the
    data root."""
    return make_fake_ham10000(root, counts=counts, image_size=IMAGE_SIZE,
                              seed=0, images_per_lesion=2, draw=draw_lesion)


def demo_config(demo_config_file: str, lmf_config_file: str, loss: str,
                data_root: str, work_dir: str, epochs: Optional[int],
                seed: int):
    """The config of one demo run: the demo config, with the loss of the
    paper's LMF config for ``loss='lmf'``."""
    cfg = load_config(demo_config_file)
    if loss == 'lmf':
        cfg.model.head.loss = copy.deepcopy(
            load_config(lmf_config_file).model.head.loss)
        cfg.model.head.loss.pop('_delete_', None)
    elif loss != 'ce':
        raise ValueError(f"loss must be 'ce' or 'lmf', got {loss!r}")
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = str(data_root)
    if epochs is not None:
        cfg.train_cfg.max_epochs = epochs
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    cfg.experiment_name = f'demo_{loss}_seed{seed}'
    return cfg


def run_demo(demo_config_file: str, lmf_config_file: str, root: str,
             seeds: Sequence[int], losses: Sequence[str] = ('ce', 'lmf'),
             epochs: Optional[int] = None,
             counts: Mapping[str, int] = DEMO_COUNTS,
             out=None) -> List[RunRecord]:
    """Generate the data under ``root``, train and test every loss x seed
    (seed-major) and return their records, stored under
    ``<root>/<loss>-<seed>/``. Progress with ETAs goes to ``out``."""
    data_root = make_demo_data(osp.join(root, 'HAM10000-synthetic'), counts)
    progress = RunProgress(len(seeds) * len(losses), out=out)
    progress.print(f'Synthetic HAM10000 layout with {sum(counts.values())} '
                   f'images, counts {dict(counts)}, in {data_root}')
    records = []
    for seed in seeds:
        for loss in losses:
            cfg = demo_config(demo_config_file, lmf_config_file, loss,
                              data_root, osp.join(root, f'{loss}-{seed}'),
                              epochs, seed)
            tag = progress.start(f'{loss}, seed {seed}')
            progress.print(f'{tag}: training '
                           f'{cfg.train_cfg.max_epochs} epochs ...')
            records.append(train_test_run(
                cfg, demo_config_file, seed, progress=progress,
                stem=f'demo-{loss}',
                labels=dict(dataset='synthetic-ham10000', loss=loss)))
            progress.print(f'{tag}: macro-F1 '
                           f'{records[-1].scalar("macro_f1"):.1f}, '
                           f'{progress.finish()}')
    return records


def demo_table(records: Sequence[RunRecord]) -> Table:
    """One row per loss: accuracy, balanced accuracy, macro-F1 (mean ± std
    over seeds; the value alone for one seed), the mean per-class F1 and
    the seconds per run."""
    classes = records[0].classes or list(HAM10000_CLASSES)
    rows = []
    for loss in dict.fromkeys(r.loss for r in records):
        runs = [r for r in records if r.loss == loss]
        per_class = np.mean([r.metric('f1_classwise') for r in runs], axis=0)
        rows.append(
            [loss] + [format_mean_std(mean_std([r.scalar(key) for r in runs]))
                      for key in ('accuracy', 'balanced_accuracy',
                                  'macro_f1')] +
            [f'{v:.1f}' for v in per_class] +
            [f'{np.mean([r.seconds for r in runs]):.0f}'])
    header = ['loss', 'accuracy', 'balanced acc.', 'macro-F1'] + [
        f'F1 {c}' for c in classes] + ['s / run']
    return Table('Demo', header, rows)


def seed_differences(records: Sequence[RunRecord], loss: str = 'lmf',
                     reference: str = 'ce') -> List[str]:
    """``'<metric>, LMF - CE per seed: ...'`` lines with the paired
    difference and its 95% interval; empty without both losses."""
    if not {loss, reference} <= {r.loss for r in records}:
        return []
    lines = []
    for key, name in (('macro_f1', 'macro-F1'),
                      ('balanced_accuracy', 'balanced accuracy')):
        mine = {r.seed: r.scalar(key) for r in records if r.loss == loss}
        ref = {r.seed: r.scalar(key) for r in records if r.loss == reference}
        seeds = sorted(set(mine) & set(ref))
        diff = paired(records, loss, reference, key)
        interval = '' if diff.n < 2 else (
            f' (mean {diff.mean:+.1f}, 95% CI [{diff.low:+.1f}, '
            f'{diff.high:+.1f}])')
        lines.append(
            f'{name}, {display(loss)} - {display(reference)} per seed: ' +
            ', '.join(f'{mine[s] - ref[s]:+.1f}' for s in seeds) + interval)
    return lines
