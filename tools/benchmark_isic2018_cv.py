"""Cross-validated benchmark of the long-tail methods (CE / focal / LDAM /
LMF by default, every single-label method with ``--methods all``) on real
dermoscopy images.

Data: the 1,512 images of the ISIC 2018 Task 3 test set (the HAM10000
distribution; NV 909, BKL 217, MEL 171, BCC 93, DF 44, AKIEC 43, VASC 35).
The script

1. builds a data root the project's ``HAM10000`` dataset class reads
   (``HAM10000_metadata.csv`` with the official header made from the one-hot
   ground truth, ``lesion_id`` = image id because none are published, the
   images symlinked) under ``<work-root>/data``,
2. writes one split file per fold (project format ``image_id,group,label,
   split``): stratified k-fold cross-validation, every image tested exactly
   once, and a stratified validation part of the training folds for
   checkpoint selection (:mod:`lmfloss_mm.benchmarking.folds`),
3. trains every method x fold x seed with MMEngine's ``Runner``
   (in-process) from the project's configs, tests the best-validation-
   macro-F1 checkpoint on the held-out fold and stores its run record
   ``runs/<method>/fold<k>_seed<s>/metrics.json`` with ``predictions.pkl``
   (runs with a record, or with the ``result.json`` of earlier versions, are
   skipped, so an interrupted benchmark resumes); a second stage (cRT, LWS,
   tau-norm, weight balancing) runs after its first stage and starts from
   that run's best checkpoint of the same fold and seed; post-hoc logit
   adjustment (``ce-posthoc-la``) is computed from the CE runs' predictions,
4. prints a Markdown report (mean ± std over folds x seeds of macro-F1,
   balanced accuracy, accuracy, AUC and many/medium/few-shot accuracy,
   per-class F1, paired differences to cross-entropy and to LMF with 95%
   t-intervals) and writes ``results.md``, the forest plot
   ``forest_macro_f1.png``, ``runs.csv`` and ``runs.jsonl`` in the work
   root (see docs/which_method.md).

The work lives in :mod:`lmfloss_mm.benchmarking.cross_validation`; this
script is its command line. ``tools/make_tables.py`` and
``tools/plot_results.py`` read the same work root.

Presets:

* ``cpu`` (default): ``configs/benchmark/resnet18-w16_48px_1xb32-{method}-
  {epochs}e_isic2018-cv.py``, a narrow ResNet-18 from scratch at 48 px with the
  paper configs' dataset class, runtime, Adam and loss settings (the CE
  config inherits the paper CE config; the others inherit it and set the
  loss of their paper config).  4 losses x 5 folds x 1 seed take about an
  hour on 2 CPU cores.
* ``gpu`` (``--gpu``): the paper configs
  ``configs/ham10000/{arch}_in1k-pre_1xb32-{method}-{epochs}e_ham10000.py``
  (ImageNet-pretrained ResNet-50 or EfficientNetV2-S, 224 px, 100 epochs).

Examples::

    python tools/benchmark_isic2018_cv.py                  # CPU preset
    python tools/benchmark_isic2018_cv.py --seeds 0 1 2 --epochs 10
    python tools/benchmark_isic2018_cv.py --methods all --seeds 0 1 2 \
        --work-root work_dirs/which_method
    python tools/benchmark_isic2018_cv.py --gpu --arch efficientnetv2-s
    python tools/benchmark_isic2018_cv.py --gpu --from-scratch --amp bf16 \
        --cache-images --workers 8 --epochs 20
    python tools/benchmark_isic2018_cv.py --dry-run        # print the plan
    python tools/benchmark_isic2018_cv.py --report-only    # stored results
"""
import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from mmengine.config import DictAction  # noqa: E402

from lmfloss_mm.benchmarking.cross_validation import (  # noqa: E402
    ARCHS, LOSSES, METHODS, PRESETS, CVOptions, SettingsMismatch,
    collect_records, dry_run, run_benchmark, settings_of, write_report)
from lmfloss_mm.benchmarking.overrides import AMP_DTYPES  # noqa: E402

DEFAULT_DATA = REPO / '..' / 'shared' / 'data' / 'isic2018_task3_test'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='5-fold cross-validated benchmark of the long-tail '
        'methods on the ISIC 2018 Task 3 test images.')
    parser.add_argument(
        '--data', default=str(DEFAULT_DATA),
        help='folder with ISIC2018_Task3_Test_GroundTruth.csv and the images '
        '(default: ../shared/data/isic2018_task3_test next to the repo)')
    parser.add_argument(
        '--preset', choices=sorted(PRESETS), default='cpu',
        help='cpu: small ResNet-18 from scratch (configs/benchmark); gpu: '
        'the paper configs (configs/ham10000) at 224 px')
    parser.add_argument('--gpu', action='store_const', const='gpu',
                        dest='preset', help='same as --preset gpu')
    parser.add_argument('--arch', choices=ARCHS, default='resnet50',
                        help='backbone of the gpu preset')
    parser.add_argument(
        '--methods', '--losses', nargs='+', choices=METHODS + ('all', ),
        default=list(LOSSES), metavar='METHOD',
        help='methods to run, or all (default: the paper\'s four losses, '
        f'{" ".join(LOSSES)}); the first stage or CE run a method starts '
        f'from is added. Methods: {", ".join(METHODS)}')
    parser.add_argument('--folds', type=int, default=5,
                        help='number of cross-validation folds')
    parser.add_argument('--run-folds', type=int, nargs='+', default=None,
                        help='train only these folds (default: all)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='training seeds (the folds do not change)')
    parser.add_argument('--split-seed', type=int, default=0,
                        help='seed of the fold and validation assignment')
    parser.add_argument('--val-ratio', type=float, default=0.2,
                        help='validation part of the training folds')
    parser.add_argument('--epochs', type=int, default=None,
                        help='training epochs (default: the config\'s); the '
                        'StepLR step is scaled with it')
    parser.add_argument('--img-size', type=int, default=None,
                        help='square input size (default: the config\'s)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: 1 for the cpu '
                        'preset, which is much faster than 2 when other jobs '
                        'share the cores; unchanged for gpu)')
    parser.add_argument('--work-root', default=None,
                        help='results, runs and the data root (default: '
                        'work_dirs/benchmark_isic2018[_gpu_<arch>])')
    parser.add_argument(
        '--no-resize-cache', action='store_true',
        help='cpu preset: symlink the original images instead of storing '
        'them pre-resized to --img-size (the cache gives the same pixels and '
        'saves the JPEG decoding in every epoch)')
    parser.add_argument(
        '--from-scratch', action='store_true',
        help='remove the pretrained initialisation (init_cfg type '
        'Pretrained) of the configs: the backbone starts from its default '
        'random initialisation')
    parser.add_argument(
        '--amp', choices=sorted(AMP_DTYPES), default=None,
        help='mixed-precision training with AmpOptimWrapper in this dtype '
        '(CUDA only; default: float32)')
    parser.add_argument(
        '--workers', type=int, default=None,
        help='data-loader processes of each dataloader (default: the '
        'config\'s); does not change the results')
    parser.add_argument(
        '--cache-images', action='store_true',
        help='decode every image once per run and keep it in memory '
        '(dataset option cache_images); does not change the results')
    parser.add_argument('--keep-checkpoints', action='store_true',
                        help='keep the last-epoch checkpoint too (the best '
                        'one is always kept)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={},
        help='extra config overrides (key=value), applied last')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the runs and their configs; train nothing')
    parser.add_argument('--report-only', action='store_true',
                        help='rebuild the report from stored results')
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error('--folds must be >= 2')
    if args.run_folds is not None and not all(
            0 <= f < args.folds for f in args.run_folds):
        parser.error(f'--run-folds must be in [0, {args.folds})')
    if not 0 < args.val_ratio < 1:
        parser.error('--val-ratio must be in (0, 1)')
    if args.workers is not None and args.workers < 0:
        parser.error('--workers must be >= 0')
    if 'all' in args.methods:
        if len(args.methods) > 1:
            parser.error('--methods all runs every method; give it alone')
        args.methods = list(METHODS)
    elif len(set(args.methods)) != len(args.methods):
        parser.error(f'--methods lists a method twice: {args.methods}')
    if args.amp:
        args.amp = AMP_DTYPES[args.amp]
    return args


def options_of(args) -> CVOptions:
    """The library's options from the command line."""
    return CVOptions(
        repo=str(REPO), data=args.data, preset=args.preset, arch=args.arch,
        methods=args.methods, n_folds=args.folds, run_folds=args.run_folds,
        seeds=args.seeds, split_seed=args.split_seed,
        val_ratio=args.val_ratio, epochs=args.epochs, img_size=args.img_size,
        work_root=args.work_root, resize_cache=not args.no_resize_cache,
        keep_checkpoints=args.keep_checkpoints,
        cfg_options=dict(args.cfg_options), from_scratch=args.from_scratch,
        amp=args.amp, num_workers=args.workers,
        cache_images=args.cache_images)


def main(argv=None):
    args = parse_args(argv)
    opts = options_of(args)
    settings = settings_of(opts)
    work_root = settings['work_root']
    if args.report_only:
        records = collect_records(work_root)
        if not records:
            raise SystemExit(f'No stored results under {work_root}.')
        print(write_report(work_root, records))
        return records
    if args.dry_run:
        return dry_run(opts, settings)
    import torch
    threads = args.threads or (1 if args.preset == 'cpu' else None)
    if threads:
        torch.set_num_threads(threads)
    try:
        records, failures = run_benchmark(opts, settings)
    except SettingsMismatch as error:
        raise SystemExit(str(error))
    print()
    print(write_report(work_root, records))
    print(f'Written: {work_root}/results.md, runs.csv, runs.jsonl (and '
          'forest_macro_f1.png when runs pair up)', flush=True)
    if failures:
        raise SystemExit(f'{len(failures)} run(s) failed: {failures}')
    return records


if __name__ == '__main__':
    main()
