"""The main job on an embedded default: cross-entropy vs LMF, end to end.

    python tools/demo.py                 # about 3 minutes on 2 CPU cores
    python tools/demo.py --seeds 0 1     # quicker, noisier
    python tools/demo.py --epochs 10     # longer training: the gap shrinks
    python tools/demo.py --seeds 0 --epochs 1 --scale 0.05  # smoke test

With nothing downloaded it

1. writes a small synthetic, imbalanced dataset in the official HAM10000
   layout (``HAM10000_metadata.csv`` + ``HAM10000_images_part_{1,2}/``),
2. trains the demo config (the project's HAM10000 dataset class, grouped
   70/15/15 split, runtime and Adam recipe; a narrow ResNet-18 from scratch
   at 32 px) once with cross-entropy and once with the loss of the paper's
   LMF config
   (``configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py``),
   showing after every epoch the ETA of the run and of the whole demo,
3. tests the best-validation-macro-F1 checkpoint of each, for five seeds,
   and prints mean ± std over the seeds and the per-seed differences.

Training is short (5 epochs), as when a model stops at its best validation
score before it has fitted the rare classes. It is a toy: the numbers show
how the pipeline and the losses behave, not how they do on dermoscopy (see
the README's real-data benchmark). The data and what it shows:
:mod:`lmfloss_mm.benchmarking.demo`.
"""
import argparse
import tempfile
from pathlib import Path

import lmfloss_mm  # noqa: F401  (registers the project's modules)
from lmfloss_mm.benchmarking.demo import (DEMO_COUNTS, demo_table, run_demo,
                                          scaled_counts, seed_differences)

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = (REPO / 'configs/demo/'
               'resnet18-w16_32px_1xb32-ce-5e_synthetic-ham10000.py')
LMF_CONFIG = (REPO / 'configs/ham10000/'
              'resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=None,
                        help="default: the demo config's (5)")
    parser.add_argument('--seeds', type=int, nargs='+',
                        default=[0, 1, 2, 3, 4])
    parser.add_argument('--losses', nargs='+', default=['ce', 'lmf'],
                        choices=['ce', 'lmf'])
    parser.add_argument(
        '--scale', type=float, default=1.0,
        help='fraction of the demo images to generate, at least 14 per '
        f'class (default 1: {sum(DEMO_COUNTS.values())} images)')
    parser.add_argument('--work-dir', default=None,
                        help='keep data and runs here (default: a temporary '
                        'folder that is removed)')
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error('--scale must be in (0, 1]')
    return args


def main(argv=None):
    args = parse_args(argv)
    counts = scaled_counts(args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        records = run_demo(str(DEMO_CONFIG), str(LMF_CONFIG),
                           args.work_dir or tmp, args.seeds, args.losses,
                           args.epochs, counts)
        print(f'\nTest split, best val macro-F1 checkpoint, mean ± std over '
              f'seeds {args.seeds} (percent):\n')
        print(demo_table(records).markdown())
        lines = seed_differences(records)
        if lines:
            print('\n' + '\n'.join(lines))
        if args.work_dir:
            print(f'\nRuns in {args.work_dir}; tables and figures: '
                  f'python tools/make_tables.py {args.work_dir} and '
                  f'python tools/plot_results.py {args.work_dir}')
    return records


if __name__ == '__main__':
    main()
