"""The main job on an embedded default: cross-entropy vs LMF, end to end.

    python tools/demo.py                 # about 3 minutes on 2 CPU cores
    python tools/demo.py --seeds 0 1     # quicker, noisier
    python tools/demo.py --epochs 10     # longer training: the gap shrinks

With nothing downloaded it

1. writes a small synthetic, imbalanced dataset in the official HAM10000
   layout (``HAM10000_metadata.csv`` + ``HAM10000_images_part_{1,2}/``),
2. trains the demo config (the project's HAM10000 dataset class, grouped
   70/15/15 split, runtime and Adam recipe; a narrow ResNet-18 from scratch
   at 32 px) once with cross-entropy and once with the loss of the paper's
   LMF config (``configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py``),
3. tests the best-validation-macro-F1 checkpoint of each, for five seeds,
   and prints mean +- std over the seeds and the per-seed differences.

What the data is: every image is a noisy "skin" background with one
"lesion" disk whose colour and size are drawn from a class-specific Gaussian.
The class distributions overlap (``df`` has nearly the colour of ``nv`` and
differs mainly in size), and the counts are HAM10000's class order at an
imbalance ratio of 100 (HAM10000: 58), so the rare classes are easy to absorb
into the frequent ones: the situation LDAM margins and focal weighting
address. Training is short (5 epochs), as when a model stops at its best
validation score before it has fitted the rare classes. It is a toy: the
numbers show how the pipeline and the losses behave, not how they do on
dermoscopy (see the README's real-data benchmark).
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from mmengine.config import Config
from mmengine.runner import Runner

import lmfloss_mm  # noqa: F401
from lmfloss_mm.datasets.ham10000 import HAM10000_CLASSES
from lmfloss_mm.datasets.synthetic import make_fake_ham10000

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / 'configs/demo/resnet18-w16_32px_1xb32-ce-5e_synthetic-ham10000.py'
LMF_CONFIG = REPO / 'configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py'

#: Images per class: HAM10000's order of frequency, imbalance ratio 100.
DEMO_COUNTS = dict(nv=4000, mel=600, bkl=500, bcc=250, akiec=150, vasc=80,
                   df=40)

#: Mean (hue-like RGB, radius) of each class's lesion, in HAM10000's class
#: order akiec, bcc, bkl, df, mel, nv, vasc. Neighbouring classes overlap.
LESION_COLOUR = np.array([[170, 90, 80], [185, 120, 120], [140, 100, 70],
                          [120, 80, 70], [90, 60, 55], [130, 85, 65],
                          [170, 60, 90]], dtype=float)
LESION_RADIUS = np.array([8, 10, 9, 6, 11, 9, 7], dtype=float)


def draw_lesion(class_index, rng, image_size):
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


def make_demo_data(root):
    return make_fake_ham10000(root, counts=DEMO_COUNTS, image_size=32,
                              seed=0, images_per_lesion=2, draw=draw_lesion)


def demo_config(loss, data_root, work_dir, epochs, seed):
    cfg = Config.fromfile(str(DEMO_CONFIG))
    if loss == 'lmf':
        cfg.model.head.loss = Config.fromfile(str(LMF_CONFIG)).model.head.loss
        cfg.model.head.loss.pop('_delete_', None)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = str(data_root)
    if epochs is not None:
        cfg.train_cfg.max_epochs = epochs
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    return cfg


def train_and_test(cfg):
    """Train, then test the best-validation-macro-F1 checkpoint."""
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    best = sorted(Path(cfg.work_dir).glob('best_imbalanced_macro_f1_*.pth'))
    runner.load_checkpoint(str(best[-1]))
    metrics = runner.test()
    return metrics, time.time() - start


def mean_std(values):
    values = np.asarray(values, dtype=float)
    std = values.std(ddof=1) if len(values) > 1 else float('nan')
    return f'{values.mean():.1f} ± {std:.1f}'


def format_table(results, classes):
    """Markdown: one row per loss, mean ± std over seeds."""
    lines = [
        '| loss | accuracy | balanced acc. | macro-F1 | '
        + ' | '.join(f'F1 {c}' for c in classes) + ' | s / run |',
        '|' + '---|' * (5 + len(classes)),
    ]
    for name, runs in results.items():
        metrics = [m for m, _ in runs]
        per_class = np.mean([m['imbalanced/f1_classwise'] for m in metrics],
                            axis=0)
        lines.append(
            f'| {name} | '
            + ' | '.join(mean_std([m[f'imbalanced/{key}'] for m in metrics])
                         for key in ('accuracy', 'balanced_accuracy',
                                     'macro_f1'))
            + ' | ' + ' | '.join(f'{v:.1f}' for v in per_class)
            + f' | {np.mean([t for _, t in runs]):.0f} |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=None,
                        help="default: the demo config's (5)")
    parser.add_argument('--seeds', type=int, nargs='+',
                        default=[0, 1, 2, 3, 4])
    parser.add_argument('--losses', nargs='+', default=['ce', 'lmf'],
                        choices=['ce', 'lmf'])
    parser.add_argument('--work-dir', default=None,
                        help='keep data and runs here (default: a temporary '
                        'folder that is removed)')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.work_dir or tmp)
        data_root = make_demo_data(root / 'HAM10000-synthetic')
        print(f'Synthetic HAM10000 layout with {sum(DEMO_COUNTS.values())} '
              f'images, counts {DEMO_COUNTS}, in {data_root}')
        results = {loss: [] for loss in args.losses}
        for seed in args.seeds:
            for loss in args.losses:
                cfg = demo_config(loss, data_root, root / f'{loss}-{seed}',
                                  args.epochs, seed)
                print(f'Training {loss}, seed {seed}, '
                      f'{cfg.train_cfg.max_epochs} epochs', flush=True)
                results[loss].append(train_and_test(cfg))
        print(f'\nTest split, best val macro-F1 checkpoint, mean ± std over '
              f'seeds {args.seeds} (percent):\n')
        print(format_table(results, HAM10000_CLASSES))
        if {'ce', 'lmf'} <= set(results):
            print()
            for key, name in (('macro_f1', 'macro-F1'),
                              ('balanced_accuracy', 'balanced accuracy')):
                diffs = [lmf[f'imbalanced/{key}'] - ce[f'imbalanced/{key}']
                         for (ce, _), (lmf, _) in zip(results['ce'],
                                                      results['lmf'])]
                print(f'{name}, LMF - CE per seed: '
                      + ', '.join(f'{d:+.1f}' for d in diffs))
    return results


if __name__ == '__main__':
    main()
