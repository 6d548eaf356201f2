"""Class statistics of a config's datasets and what the losses make of them.

Builds ``train_dataloader.dataset`` (always), ``val_dataloader.dataset`` and
``test_dataloader.dataset`` of a config with empty pipelines (annotations
only, no image is read), then prints per class and split the counts and
shares, the training imbalance ratio, the LDAM margins, the ``'margins'``
and ``'bwcce'`` class weights and the many/medium/few-shot group, and writes
``class_stats.csv``, ``class_stats.md`` and ``class_counts.png`` to
``--out-dir``.

Examples::

    python tools/dataset_stats.py \\
        configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py \\
        --cfg-options train_dataloader.dataset.data_root=data/HAM10000 \\
                      val_dataloader.dataset.data_root=data/HAM10000 \\
                      test_dataloader.dataset.data_root=data/HAM10000
    HAM10000_ROOT=data/HAM10000 python tools/dataset_stats.py \\
        configs/ham10000/resnet50_in1k-pre_1xb32-ce-100e_ham10000.py \\
        --splits train --max-m 0.3 --log-scale --out-dir stats/ham
"""
import argparse
import os
import os.path as osp

import matplotlib

matplotlib.use('Agg')

import lmfloss_mm  # noqa: F401,E402  (registers datasets)
from lmfloss_mm.datasets.config_splits import (  # noqa: E402
    add_config_arguments, load_dataset_config)
from lmfloss_mm.evaluation.functional import SHOT_THRESHOLDS  # noqa: E402
from lmfloss_mm.visualization import (DEFAULT_MAX_M,  # noqa: E402
                                      collect_config_counts,
                                      compute_class_stats, config_loss_info,
                                      format_table, plot_class_counts,
                                      save_figure, write_csv, write_markdown)
from lmfloss_mm.visualization.class_stats import default_out_dir  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Per-class counts of a config\'s splits, LDAM margins, '
        'class weights and shot groups.')
    add_config_arguments(
        parser, 'splits to report (train is always counted: margins and '
        'weights come from it)')
    parser.add_argument(
        '--max-m',
        type=float,
        default=None,
        help='largest LDAM margin (default: max_m of the config\'s '
        f'model.head.loss, else {DEFAULT_MAX_M})')
    parser.add_argument(
        '--shot-thresholds',
        type=int,
        nargs=2,
        default=SHOT_THRESHOLDS,
        metavar=('MANY', 'FEW'),
        help='many-shot: count > MANY; few-shot: count < FEW')
    parser.add_argument(
        '--out-dir',
        default=None,
        help='output folder (default: work_dirs/dataset_stats/<config>)')
    parser.add_argument(
        '--log-scale', action='store_true', help='log-scale count axis')
    return parser.parse_args(argv)


def resolve_max_m(cli_max_m, loss_info):
    """``(max_m, where it comes from)``."""
    if cli_max_m is not None:
        return float(cli_max_m), '--max-m'
    if loss_info.get('max_m') is not None:
        return float(loss_info['max_m']), \
            f"config {loss_info.get('type')}.max_m"
    return DEFAULT_MAX_M, 'default, the official LMF value'


def main(argv=None):
    args = parse_args(argv)
    cfg = load_dataset_config(args.config, args.cfg_options)
    collected = collect_config_counts(cfg, args.splits)
    loss_info = config_loss_info(cfg)
    max_m, source = resolve_max_m(args.max_m, loss_info)
    counts = {s: c for s, c in collected['counts'].items()
              if s in args.splits or s == 'train'}
    stats = compute_class_stats(
        counts,
        classes=collected['classes'],
        max_m=max_m,
        thresholds=tuple(args.shot_thresholds),
        num_samples=collected['num_samples'],
        multi_label=collected['multi_label'],
        max_m_source=source,
        loss_info=loss_info)

    name = osp.splitext(osp.basename(args.config))[0]
    dataset_type = cfg.train_dataloader.dataset.get('type', '?')
    title = f'{dataset_type} ({name})'
    print(f'Class statistics of {title}\n')
    print(format_table(stats))

    out_dir = args.out_dir or default_out_dir(args.config)
    os.makedirs(out_dir, exist_ok=True)
    write_csv(stats, osp.join(out_dir, 'class_stats.csv'))
    write_markdown(stats, osp.join(out_dir, 'class_stats.md'),
                   title=f'Class statistics of {title}')
    fig = plot_class_counts(stats, log_scale=args.log_scale, title=title)
    save_figure(fig, osp.join(out_dir, 'class_counts.png'))
    print(f'\nWrote class_stats.csv, class_stats.md and class_counts.png '
          f'to {out_dir}')
    return stats


if __name__ == '__main__':
    main()
