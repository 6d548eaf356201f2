"""Figures of finished runs; nothing is retrained or re-evaluated.

Reads every run below WORK_ROOT (grid runs, cross-validation folds, plain
``mim train`` / ``mim test`` work folders; see ``tools/make_tables.py``)
and writes to ``--out-dir``:

* ``per_class_f1/<dataset>_<backbone>.png``: per-class F1 by loss (grouped
  bars, mean over runs, sample std as error bars), plus
  ``per_class_f1.csv``;
* ``confusion/<config-stem>.png``: row-normalised confusion matrix, runs
  summed;
* ``reliability/<config-stem>.png``: reliability diagram of the pooled
  test predictions of all runs, ECE in the title, plus ``calibration.csv``
  (accuracy and ECE in percent, like ``ImbalancedClsMetric``);
* ``forest/<dataset>_<backbone>.png``: forest plot of the paired macro-F1
  differences of every loss to CE and to LMF (runs with the same fold and
  seed; mean and 95% t-interval), when runs pair up.

Reliability diagrams need each run's test predictions (``predictions.pkl``
of ``mim test ... --out``); runs without them are left out with a message.

Examples::

    python tools/plot_results.py work_dirs/grid --out-dir work_dirs/grid/plots
    python tools/plot_results.py work_dirs/grid --out-dir plots \\
        --figures reliability --bins 10
"""
import argparse
import os
import os.path as osp
import re

import matplotlib

matplotlib.use('Agg')

from lmfloss_mm.evaluation.functional import (  # noqa: E402
    calibration_bins, expected_calibration_error)
from lmfloss_mm.results import Table, load_runs  # noqa: E402
from lmfloss_mm.results.predictions import (group_runs,  # noqa: E402
                                            per_class_f1_table,
                                            pooled_predictions,
                                            summed_confusion)
from lmfloss_mm.visualization import (plot_confusion_matrix,  # noqa: E402
                                      plot_per_class_f1,
                                      plot_reliability_diagram,
                                      plot_runs_forest, save_figure)

FIGURES = ('f1', 'confusion', 'reliability', 'forest')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Per-class F1, confusion matrices and reliability '
        'diagrams of finished runs.')
    parser.add_argument('work_root', help='folder holding finished runs')
    parser.add_argument('--out-dir', default=None,
                        help='output folder (default: <WORK_ROOT>/plots)')
    parser.add_argument('--figures', nargs='+', default=list(FIGURES),
                        choices=FIGURES, help='which figures to draw')
    parser.add_argument(
        '--bins', type=int, default=15,
        help='confidence bins of the reliability diagrams and ECE (15, as '
        'ImbalancedClsMetric)')
    parser.add_argument('--dpi', type=int, default=120)
    return parser.parse_args(argv)


def out_name(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r'[^A-Za-z0-9._+-]+', '_', text).strip('_') or 'unnamed'


def draw_per_class_f1(runs, out_dir, dpi, log=print):
    """One figure per dataset x backbone; returns the written files."""
    written, rows = [], []
    groups = group_runs(runs, key=lambda r: (r.dataset, r.backbone))
    for (dataset, backbone), group in groups.items():
        classes, table = per_class_f1_table(group, log)
        if not table:
            log(f'skip per-class F1 of {dataset} / {backbone}: no usable run')
            continue
        for loss, (mean, std, n) in table.items():
            rows += [[dataset, backbone, loss, name, repr(float(m)),
                      repr(float(s)), n]
                     for name, m, s in zip(classes, mean, std)]
        fig = plot_per_class_f1(
            classes, table,
            title=f'{dataset} / {backbone}: per-class F1 by loss')
        written.append(save_figure(
            fig, osp.join(out_dir, 'per_class_f1',
                          out_name(f'{dataset}_{backbone}') + '.png'), dpi))
    if rows:
        path = osp.join(out_dir, 'per_class_f1.csv')
        Table('Per-class F1', ['dataset', 'backbone', 'loss', 'class',
                               'f1_mean', 'f1_std', 'n_runs'],
              rows).write_csv(path)
        written.append(path)
    return written


def draw_confusion_matrices(runs, out_dir, dpi, log=print):
    """One row-normalised matrix per config, runs summed."""
    written = []
    for stem, group in group_runs(runs, key=lambda r: r.config_stem).items():
        matrix, used = summed_confusion(group, log)
        if matrix is None:
            log(f'skip confusion matrix of {stem}: no usable run')
            continue
        classes = group[0].classes or []
        if len(classes) != len(matrix):
            classes = [str(i) for i in range(len(matrix))]
        fig = plot_confusion_matrix(
            matrix, classes,
            title=f'{stem}\nrow-normalised, {used} run(s) summed')
        written.append(save_figure(
            fig, osp.join(out_dir, 'confusion', out_name(stem) + '.png'),
            dpi))
    return written


def draw_reliability_diagrams(runs, out_dir, dpi, n_bins, log=print):
    """One diagram per config from the pooled predictions of its runs."""
    written, rows = [], []
    for stem, group in group_runs(runs, key=lambda r: r.config_stem).items():
        scores, labels, used = pooled_predictions(group, log)
        if scores is None:
            log(f'skip reliability diagram of {stem}: no run has '
                'predictions (mim test ... --out <run>/predictions.pkl)')
            continue
        confidence = scores.max(axis=1)
        correct = scores.argmax(axis=1) == labels
        ece = expected_calibration_error(confidence, correct, n_bins)
        fig = plot_reliability_diagram(
            calibration_bins(confidence, correct, n_bins), ece,
            title=f'{stem} ({used} run(s) pooled)')
        written.append(save_figure(
            fig, osp.join(out_dir, 'reliability', out_name(stem) + '.png'),
            dpi))
        rows.append([stem, used, len(labels),
                     repr(100 * float(correct.mean())),
                     repr(100 * float(ece)), n_bins])
    if rows:
        path = osp.join(out_dir, 'calibration.csv')
        Table('Calibration', ['config_stem', 'n_runs', 'n_samples',
                              'accuracy_percent', 'ece_percent', 'n_bins'],
              rows).write_csv(path)
        written.append(path)
    return written


def draw_forest_plots(runs, out_dir, dpi, log=print):
    """One forest plot of the paired macro-F1 differences per dataset x
    backbone whose runs pair up with CE or LMF."""
    written = []
    groups = group_runs(runs, key=lambda r: (r.dataset, r.backbone))
    for (dataset, backbone), group in groups.items():
        fig = plot_runs_forest(
            group, title=f'{dataset} / {backbone}: paired macro-F1 '
            'differences')
        if fig is None:
            log(f'skip forest plot of {dataset} / {backbone}: no run shares '
                'its fold and seed with a ce or lmf run')
            continue
        written.append(save_figure(
            fig, osp.join(out_dir, 'forest',
                          out_name(f'{dataset}_{backbone}') + '.png'), dpi))
    return written


def main(argv=None):
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join(args.work_root, 'plots')
    runs = load_runs([args.work_root], warn=print)
    if not runs:
        print(f'No finished run under {args.work_root} (no metrics.json, '
              'result.json or MMEngine test log); nothing to plot.')
        return []
    print(f'{len(runs)} finished run(s) of '
          f'{len({r.config_stem for r in runs})} config(s) under '
          f'{args.work_root}')
    os.makedirs(out_dir, exist_ok=True)
    written = []
    if 'f1' in args.figures:
        written += draw_per_class_f1(runs, out_dir, args.dpi)
    if 'confusion' in args.figures:
        written += draw_confusion_matrices(runs, out_dir, args.dpi)
    if 'reliability' in args.figures:
        written += draw_reliability_diagrams(runs, out_dir, args.dpi,
                                             args.bins)
    if 'forest' in args.figures:
        written += draw_forest_plots(runs, out_dir, args.dpi)
    print(f'Wrote {len(written)} file(s) to {out_dir}:')
    for path in written:
        print(f'  {osp.relpath(path, out_dir)}')
    return written


if __name__ == '__main__':
    main()
