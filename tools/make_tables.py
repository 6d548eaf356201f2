"""Tables of a finished grid from its ``metrics.json`` files (nothing is
retrained or re-evaluated).

Writes to ``--out-dir`` and prints the Markdown:

* ``results.md``: every table below;
* ``<metric>.csv`` for accuracy, macro_precision, macro_recall, macro_f1,
  balanced_accuracy: the paper's layout (rows = dataset x backbone,
  columns = losses; ``<loss>_mean``, ``<loss>_std``, ``<loss>_n``);
* ``per_class_f1_<dataset>.csv``: rows = backbone x loss, columns =
  classes;
* ``published_vs_ours.csv``: the published numbers, ours and the
  difference;
* ``runs.csv``: one row per run with its scalar metrics.

Example::

    python tools/make_tables.py work_dirs/grid --out-dir reports/
"""
import argparse
import sys

from lmfloss_mm.reporting import load_runs, make_report


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Markdown and CSV tables from the metrics.json files of '
        'a grid.')
    parser.add_argument('work_roots', nargs='+', metavar='WORK_ROOT',
                        help='folders searched for */metrics.json')
    parser.add_argument('--out-dir', default='reports',
                        help='output folder (default: reports/)')
    parser.add_argument('--prefix', default='imbalanced',
                        help='metric key prefix (default: imbalanced)')
    parser.add_argument('--digits', type=int, default=2,
                        help='decimals in the Markdown (default: 2)')
    parser.add_argument('--quiet', action='store_true',
                        help='do not print the Markdown')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    def warn(message):
        print(f'WARNING: {message}', file=sys.stderr)

    runs = load_runs(args.work_roots, warn=warn)
    if not runs:
        print(f'error: no metrics.json under {" ".join(args.work_roots)}',
              file=sys.stderr)
        return 1
    markdown, files = make_report(runs, args.out_dir, prefix=args.prefix,
                                  digits=args.digits,
                                  sources=args.work_roots, warn=warn)
    if not args.quiet:
        print(markdown)
    print(f'Wrote {", ".join(files)}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
