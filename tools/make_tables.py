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

Runs that store their provenance (code version, library versions, torch
threads, CPU kernels, determinism flags, device;
:mod:`lmfloss_mm.results.provenance`) are compared: when they differ, a
warning names the differing fields, on stderr and in ``results.md``
(section "Provenance"); ``--strict-provenance`` refuses to write such
tables. Runs stored before provenance was recorded are not checked.

Example::

    python tools/make_tables.py work_dirs/grid --out-dir reports/
"""
import argparse
import sys

from lmfloss_mm.results import load_runs, make_report, paired_report
from lmfloss_mm.results.provenance import (check_stored_provenance,
                                           describe_provenance,
                                           provenance_of)


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
    parser.add_argument(
        '--strict-provenance', action='store_true',
        help='refuse (exit 1) when the runs were made under different '
        'provenance (code, libraries, threads, CPU kernels, flags, device); '
        'by default the tables are written with a warning')
    parser.add_argument('--quiet', action='store_true',
                        help='do not print the Markdown')
    return parser.parse_args(argv)


def provenance_section(runs, mixed) -> str:
    """The "Provenance" section of ``results.md``: the differences
    ``mixed``, else what the runs were made with."""
    known = [r for r in runs if provenance_of(r)]
    lines = ['## Provenance', '']
    if mixed:
        lines.append('**Warning:** the runs were made under different '
                     'provenance, so runs with the same seed are not '
                     'comparable run by run:')
        lines += [''] + [f'- {message}' for message in mixed]
    elif known:
        lines.append('Made with ' +
                     describe_provenance(provenance_of(known[0])) + '.')
    unchecked = len(runs) - len(known)
    if unchecked:
        lines += ['', f'{unchecked} of {len(runs)} runs store no provenance '
                  '(made before it was recorded): not checked.']
    return '\n'.join(lines)


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
    mixed = check_stored_provenance(runs, strict=False)
    if mixed and args.strict_provenance:
        print('error: the runs were made under different provenance, so '
              'runs with the same seed are not comparable:\n- ' +
              '\n- '.join(mixed) + '\nRe-run the differing runs under one '
              'provenance, or make separate tables of them.',
              file=sys.stderr)
        return 1
    if mixed:
        warn('the runs differ in provenance (see "Provenance" in '
             'results.md; --strict-provenance refuses): ' + '; '.join(mixed))
    extra = []
    if args.paired:
        extra.append(paired_report(runs, args.paired,
                                   title=f'Paired with {args.paired}'))
    extra.append(provenance_section(runs, mixed))
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
