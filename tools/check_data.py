"""Pre-flight data check: decode every image of a config's datasets.

Builds ``train_dataloader.dataset``, ``val_dataloader.dataset`` and
``test_dataloader.dataset`` of a config (annotations and file lists; no
transform is applied), decodes every image file in parallel exactly as the
pipeline's loading transform does (``LoadImageFromFile`` / ``LoadEyePair``:
same file backend, decoder and colour type), and prints every missing,
unreadable, empty, truncated or undecodable image with its split, the
images the loader converts (grey-scale, palette, alpha...) and a summary
per split (counts, decoded sizes, stored modes).

Exit status: 0 when every image decodes, 1 when an image is broken or a
split's dataset cannot be built.

Examples::

    HAM10000_ROOT=data/HAM10000 python tools/check_data.py \\
        configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py
    python tools/check_data.py CONFIG --workers 16 --out check.json \\
        --write-exclude broken_images.txt \\
        --cfg-options train_dataloader.dataset.data_root=data/HAM10000
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

import lmfloss_mm  # noqa: F401  (registers the datasets and LoadEyePair)
from lmfloss_mm.datasets import check_config
from lmfloss_mm.datasets.splits import SPLIT_NAMES


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Decode every image of a config\'s train/val/test '
        'datasets as the pipeline does and report all broken ones.')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--splits',
        nargs='+',
        default=list(SPLIT_NAMES),
        choices=SPLIT_NAMES,
        help='splits to check (default: all three)')
    parser.add_argument(
        '--workers',
        type=int,
        default=os.cpu_count() or 1,
        help='decoding processes (default: the CPU count)')
    parser.add_argument(
        '--out', help='write the full report (every record) as JSON here')
    parser.add_argument(
        '--write-exclude',
        metavar='FILE',
        help='write the broken images to FILE, one per line with the reason '
        'as a comment, for the datasets\' exclude_file= argument')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, xxx=yyy format, as in '
        'tools/train.py')
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f'--workers must be >= 1, got {args.workers}')
    return args


def exclude_options(cfg, splits, path: str) -> str:
    """The --cfg-options that make the config's datasets use ``path``."""
    options = [
        f'{split}_dataloader.dataset.exclude_file={path}' for split in splits
        if (cfg.get(f'{split}_dataloader') or {}).get('dataset')
    ]
    return ' '.join(options)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))

    report = check_config(cfg, args.splits, workers=args.workers,
                          progress=not args.no_progress)
    print(report.format())
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(report.to_dict(), f, indent=1)
        print(f'Wrote the full report to {args.out}')
    if args.write_exclude:
        path = osp.abspath(args.write_exclude)
        count = report.write_exclude(
            path, header=f'Written by tools/check_data.py {args.config}')
        print(f'Wrote {count} broken image(s) to {path}. To leave them '
              'out (after reading it), add to tools/train.py:\n'
              f'  --cfg-options {exclude_options(cfg, args.splits, path)}')
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
