"""Check and benchmark the project on one CUDA GPU, within a time budget.

Four parts run one after the other, each as a child process with its own
time budget (a part that fails or runs out of time does not stop the
others), and the report is rewritten after every part:

1. ``tests``: the tests that need CUDA: those a ``skipif`` mark skips when
   CUDA is hidden but not when it is visible
   (:mod:`lmfloss_mm.benchmarking.skip_probe`), in the test files that
   mention CUDA or a GPU.
2. ``losses``: ``tools/benchmark_losses.py --device cuda`` for 32x7, 256x8,
   256x1000 and 1024x8142 logits (CE, focal, LDAM, LMF and the official
   code's composition).
3. ``throughput``: ``tools/benchmark_throughput.py``: training images/s of
   ResNet-50 and EfficientNetV2-S (paper configs, pretrained init removed),
   cross-entropy and LMF, batch 32, 224 px, mixed precision, on a batch
   already on the GPU (contiguous and channels_last) and through the real
   data pipeline over the ISIC 2018 images (``--data``).
4. ``cv``: ``tools/benchmark_isic2018_cv.py --gpu``: ResNet-50 from scratch
   at 224 px, cross-entropy and LMF, k-fold cross-validation, mixed
   precision, images decoded once per run (``--cache-images``), Adam with
   ``--cv-lr`` dropping x0.1 every ``--cv-lr-step`` epochs.  Folds run
   one at a time; a fold that would not finish in the remaining budget
   (estimated from the slowest fold so far) is not started.

Outputs in ``--out`` (few files): ``report.md`` (everything readable),
``results.json`` (everything parsed), ``pytest.log``, ``cv_results.md``
(the cross-validation report: mean ± std, paired differences to
cross-entropy with 95% intervals) and ``logs.tar.gz`` (the log of every
part, the loss and throughput measurements, every cross-validation run's
record, log and validation curve; no checkpoints).  Everything else
(checkpoints, the benchmark's data root) stays in ``--work-dir``.

Examples::

    python tools/benchmark_gpu.py --out gpu_report                # CUDA
    python tools/benchmark_gpu.py --out gpu_report --budget-s 900 \
        --cv-epochs 30
    python tools/benchmark_gpu.py --out rehearsal --device cpu --quick
    python tools/benchmark_gpu.py --out gpu_report --parts cv     # one part
"""
import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from lmfloss_mm.benchmarking.cross_validation import ARCHS  # noqa: E402
from lmfloss_mm.benchmarking.gpu import (LOSS_SHAPES, PARTS,  # noqa: E402
                                         run_gpu_benchmark)
from lmfloss_mm.results.labels import PAPER_LOSSES  # noqa: E402

DEFAULT_DATA = REPO / '..' / 'shared' / 'data' / 'isic2018_task3_test'

#: Settings of ``--quick`` (a smoke run on any machine); explicit arguments
#: still win.
QUICK = dict(budget_s=1200, tests_budget_s=300, losses_budget_s=120,
             throughput_budget_s=400, loss_shapes=['32x7', '256x8'],
             loss_min_run_time=0.05, loss_repeats=1, img_size=32,
             batch_size=4, steps=2, warmup=1, repeats=1, loader_steps=2,
             cv_epochs=1, cv_run_folds=[0], workers=2)


def build_parser():
    parser = argparse.ArgumentParser(
        description='Check and benchmark lmfloss-mm on one CUDA GPU within '
        'a time budget (tests, loss speed, training throughput, '
        'cross-validated benchmark).')
    parser.add_argument('--out', required=True,
                        help='output folder (created; files are replaced)')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_gpu',
                        help='checkpoints, data root, full logs')
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda',
                        help='cpu: a rehearsal (CUDA tests skip, no mixed '
                        'precision)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny settings for a smoke run: ' + ', '.join(
                            f'{k}={v}' for k, v in QUICK.items()))
    parser.add_argument('--parts', nargs='+', choices=PARTS,
                        default=list(PARTS), help='parts to run, in order')
    parser.add_argument('--budget-s', type=float, default=420,
                        help='time budget of the whole run in seconds')
    parser.add_argument('--tests-budget-s', type=float, default=75,
                        help='time limit of the tests part')
    parser.add_argument('--losses-budget-s', type=float, default=40,
                        help='time limit of the losses part')
    parser.add_argument('--throughput-budget-s', type=float, default=110,
                        help='time limit of the throughput part (the cv '
                        'part gets what is left of --budget-s)')
    parser.add_argument('--data', default=str(DEFAULT_DATA),
                        help='ISIC 2018 Task 3 test images and ground truth '
                        '(default: ../shared/data/isic2018_task3_test)')
    parser.add_argument('--workers', type=int,
                        default=min(8, os.cpu_count() or 1),
                        help='data-loader processes per dataloader (default: '
                        'min(8, CPUs))')
    parser.add_argument('--amp', choices=('bf16', 'fp16', 'none'),
                        default='bf16',
                        help='mixed precision of throughput and cv on CUDA')
    # losses
    parser.add_argument('--loss-shapes', nargs='+', default=list(LOSS_SHAPES),
                        help='batch x classes shapes of the losses part')
    parser.add_argument('--loss-min-run-time', type=float, default=0.2,
                        help='seconds of measurement per loss, shape and '
                        'repeat')
    parser.add_argument('--loss-repeats', type=int, default=3,
                        help='repeats of the loss timing (median and range)')
    # throughput
    parser.add_argument('--img-size', type=int, default=224,
                        help='input size of throughput and cv')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='batch size of the throughput part (cv: the '
                        'configs\' 32)')
    parser.add_argument('--steps', type=int, default=30,
                        help='timed steps of a resident measurement')
    parser.add_argument('--warmup', type=int, default=15,
                        help='untimed steps before the first measurement '
                        'of a model')
    parser.add_argument('--repeats', type=int, default=3,
                        help='resident measurements per config (median)')
    parser.add_argument('--loader-steps', type=int, default=60,
                        help='timed steps of a loader measurement')
    # cross-validation
    parser.add_argument('--cv-arch', choices=ARCHS, default='resnet50',
                        help='backbone of the cv runs')
    parser.add_argument('--cv-losses', nargs='+', default=['ce', 'lmf'],
                        choices=PAPER_LOSSES,
                        help='losses of the cv runs (ce first: the '
                        'reference of the paired differences)')
    parser.add_argument('--cv-folds', type=int, default=5,
                        help='cross-validation folds')
    parser.add_argument('--cv-run-folds', type=int, nargs='+', default=None,
                        help='folds to train (default: all)')
    parser.add_argument('--cv-seed', type=int, default=0,
                        help='training seed of the cv runs')
    parser.add_argument('--cv-epochs', type=int, default=15,
                        help='training epochs of every cv run')
    parser.add_argument(
        '--cv-lr', type=float, default=1e-3,
        help='Adam learning rate of the from-scratch cv runs (the paper '
        'configs\' 1e-4 is for fine-tuning pretrained weights)')
    parser.add_argument(
        '--cv-lr-step', type=int, default=None,
        help='StepLR step_size of the cv runs: the learning rate drops '
        'x0.1 every this many epochs (default: 2/3 of --cv-epochs, i.e. '
        'one drop, as the cpu preset\'s 8 of 12)')
    return parser


def parse_args(argv=None):
    parser = build_parser()
    known, _ = parser.parse_known_args(argv)
    if known.quick:
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error('--budget-s must be > 0')
    for name in ('cv_epochs', 'cv_folds', 'steps', 'batch_size', 'img_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.cv_folds < 2:
        parser.error('--cv-folds must be >= 2')
    if args.cv_run_folds and not all(0 <= f < args.cv_folds
                                     for f in args.cv_run_folds):
        parser.error(f'--cv-run-folds must be in [0, {args.cv_folds})')
    if args.cv_lr_step is None:
        args.cv_lr_step = max(1, round(2 * args.cv_epochs / 3))
    if args.cv_lr_step < 1:
        parser.error('--cv-lr-step must be >= 1')
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            parser.error('--device cuda: CUDA is not available here. For a '
                         'rehearsal on the CPU use --device cpu --quick.')
    if args.device == 'cpu' or args.amp == 'none':
        args.amp = None  # AmpOptimWrapper needs CUDA
    return args


def main(argv=None):
    return run_gpu_benchmark(parse_args(argv), str(REPO))


if __name__ == '__main__':
    main()
