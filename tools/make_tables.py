"""Tables of finished runs; nothing is retrained or re-evaluated.

Reads every run below the given folders: the grid's
``<config-stem>/seed-<s>/metrics.json``, the cross-validation folds of
``tools/benchmark_isic2018_cv.py`` (any version) and plain ``mim train`` /
``mim test`` work folders (see ``docs/reproduce.md``). Writes to
``--out-dir`` and prints the Markdown:

* ``results.md``: every table below;
* ``<metric>.csv`` for accuracy, macro_precision, macro_recall, macro_f1,
  balanced_accuracy: the paper's layout (rows = dataset x backbone,
  columns = losses; ``<loss>_mean``, ``<loss>_std``, ``<loss>_n``);
* ``per_class_f1_<dataset>.csv``: rows = backbone x loss, columns =
  classes;
* ``published_vs_ours.csv``: the published numbers, ours and the
  difference;
* ``runs.csv``: one row per run with its scalar metrics.

``--paired ce`` adds the paired comparison of every loss with ``ce`` on
the same folds and seeds (the cross-validation report).

Example::

    python tools/make_tables.py work_dirs/grid --out-dir reports/
"""
import argparse
import sys

from lmfloss_mm.results import load_runs, make_report, paired_report


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Markdown and CSV tables of finished runs (grid runs, '
        'cross-validation folds, mim work folders).')
    parser.add_argument('work_roots', nargs='+', metavar='WORK_ROOT',
                        help='folders searched for runs (or record files)')
    parser.add_argument('--out-dir', default='reports',
                        help='output folder (default: reports/)')
    parser.add_argument('--prefix', default='imbalanced',
                        help='metric key prefix (default: imbalanced)')
    parser.add_argument('--digits', type=int, default=2,
                        help='decimals in the Markdown (default: 2)')
    parser.add_argument('--paired', metavar='LOSS', default=None,
                        help='add the paired comparison with this loss')
    parser.add_argument('--quiet', action='store_true',
                        help='do not print the Markdown')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    def warn(message):
        print(f'WARNING: {message}', file=sys.stderr)

    try:
        runs = load_runs(args.work_roots, warn=warn)
    except FileNotFoundError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    if not runs:
        print(f'error: no finished run under {" ".join(args.work_roots)} '
              '(no metrics.json, result.json or MMEngine test log). A mim '
              'train folder W becomes a run once tested: mim test '
              'mmpretrain CONFIG --checkpoint CKPT --work-dir W --out '
              'W/predictions.pkl', file=sys.stderr)
        return 1
    extra = []
    if args.paired:
        extra.append(paired_report(runs, args.paired,
                                   title=f'Paired with {args.paired}'))
    markdown, files = make_report(runs, args.out_dir, prefix=args.prefix,
                                  digits=args.digits,
                                  sources=args.work_roots, extra=extra,
                                  warn=warn)
    if not args.quiet:
        print(markdown)
    print(f'Wrote {", ".join(files)}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
