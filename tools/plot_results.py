"""Figures of a finished grid of runs; nothing is retrained or re-evaluated.

Reads ``<WORK_ROOT>/<config-stem>/seed-<s>/metrics.json`` and
``predictions.pkl`` and writes to ``--out-dir``:

* ``per_class_f1/<dataset>_<backbone>.png``: per-class F1 by loss (grouped
  bars, mean over seeds, sample std as error bars), plus
  ``per_class_f1.csv``;
* ``confusion/<config-stem>.png``: row-normalised confusion matrix, seeds
  summed;
* ``reliability/<config-stem>.png``: reliability diagram of the pooled
  test predictions of all seeds, ECE in the title, plus ``calibration.csv``
  (accuracy and ECE in percent, like ``ImbalancedClsMetric``).

Runs without ``metrics.json`` (unfinished) are skipped with a message, as
are reliability diagrams of configs without ``predictions.pkl``.

Examples::

    python tools/plot_results.py work_dirs/grid --out-dir work_dirs/grid/plots
    python tools/plot_results.py work_dirs/grid --out-dir plots \\
        --figures reliability --bins 10
"""
import argparse
import csv
import os
import os.path as osp

import matplotlib

matplotlib.use('Agg')

import numpy as np  # noqa: E402

from lmfloss_mm.visualization import (calibration_error, find_runs,  # noqa
                                      per_class_f1_table,
                                      plot_confusion_matrix,
                                      plot_per_class_f1,
                                      plot_reliability_diagram,
                                      pooled_predictions, reliability_bins,
                                      save_figure, summed_confusion,
                                      top1_confidence)
from lmfloss_mm.visualization.results import group_runs, out_name  # noqa

FIGURES = ('f1', 'confusion', 'reliability')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Per-class F1, confusion matrices and reliability '
        'diagrams of a finished grid.')
    parser.add_argument('work_root',
                        help='folder holding <config-stem>/seed-<s>/ runs')
    parser.add_argument(
        '--out-dir',
        default=None,
        help='output folder (default: <WORK_ROOT>/plots)')
    parser.add_argument(
        '--figures',
        nargs='+',
        default=list(FIGURES),
        choices=FIGURES,
        help='which figures to draw')
    parser.add_argument(
        '--bins',
        type=int,
        default=15,
        help='confidence bins of the reliability diagrams and ECE (15, as '
        'ImbalancedClsMetric)')
    parser.add_argument('--dpi', type=int, default=120)
    return parser.parse_args(argv)


def write_rows(path, header, rows):
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


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
        write_rows(path, ['dataset', 'backbone', 'loss', 'class', 'f1_mean',
                          'f1_std', 'n_seeds'], rows)
        written.append(path)
    return written


def draw_confusion_matrices(runs, out_dir, dpi, log=print):
    """One row-normalised matrix per config, seeds summed."""
    written = []
    for stem, group in group_runs(runs, key=lambda r: r.config_stem).items():
        matrix, used = summed_confusion(group, log)
        if matrix is None:
            log(f'skip confusion matrix of {stem}: no usable run')
            continue
        classes = group[0].classes or [str(i) for i in range(len(matrix))]
        if len(classes) != len(matrix):
            classes = [str(i) for i in range(len(matrix))]
        fig = plot_confusion_matrix(
            matrix, classes,
            title=f'{stem}\nrow-normalised, {used} seed(s) summed')
        written.append(save_figure(
            fig, osp.join(out_dir, 'confusion', out_name(stem) + '.png'),
            dpi))
    return written


def draw_reliability_diagrams(runs, out_dir, dpi, n_bins, log=print):
    """One diagram per config from the pooled predictions of its seeds."""
    written, rows = [], []
    for stem, group in group_runs(runs, key=lambda r: r.config_stem).items():
        scores, labels, used = pooled_predictions(group, log)
        if scores is None:
            log(f'skip reliability diagram of {stem}: no predictions.pkl in '
                'any seed')
            continue
        confidence, correct = top1_confidence(scores, labels)
        ece = calibration_error(confidence, correct, n_bins)
        fig = plot_reliability_diagram(
            reliability_bins(confidence, correct, n_bins), ece,
            title=f'{stem} ({used} seed(s) pooled)')
        written.append(save_figure(
            fig, osp.join(out_dir, 'reliability', out_name(stem) + '.png'),
            dpi))
        rows.append([stem, used, len(labels),
                     repr(100 * float(np.mean(correct))),
                     repr(100 * float(ece)), n_bins])
    if rows:
        path = osp.join(out_dir, 'calibration.csv')
        write_rows(path, ['config_stem', 'n_seeds', 'n_samples',
                          'accuracy_percent', 'ece_percent', 'n_bins'], rows)
        written.append(path)
    return written


def main(argv=None):
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join(args.work_root, 'plots')
    runs = find_runs(args.work_root)
    if not runs:
        print(f'No finished run (with metrics.json) under {args.work_root}; '
              'nothing to plot.')
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
    print(f'Wrote {len(written)} file(s) to {out_dir}:')
    for path in written:
        print(f'  {osp.relpath(path, out_dir)}')
    return written


if __name__ == '__main__':
    main()
