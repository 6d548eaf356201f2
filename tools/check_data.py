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
import os.path as osp
import sys

import lmfloss_mm  # noqa: F401  (registers the datasets and LoadEyePair)
from lmfloss_mm.datasets import check_config
from lmfloss_mm.datasets.config_splits import (add_config_arguments,
                                               dataset_cfg_options,
                                               load_dataset_config)
from lmfloss_mm.fileio import dump_json_atomic


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Decode every image of a config\'s train/val/test '
        'datasets as the pipeline does and report all broken ones.')
    add_config_arguments(parser, 'splits to check (default: all three)',
                         workers_help='decoding processes')
    parser.add_argument(
        '--out', help='write the full report (every record) as JSON here')
    parser.add_argument(
        '--write-exclude',
        metavar='FILE',
        help='write the broken images to FILE, one per line with the reason '
        'as a comment, for the datasets\' exclude_file= argument')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_dataset_config(args.config, args.cfg_options)
    report = check_config(cfg, args.splits, workers=args.workers,
                          progress=not args.no_progress)
    print(report.format())
    if args.out:
        dump_json_atomic(report.to_dict(), args.out)
        print(f'Wrote the full report to {args.out}')
    if args.write_exclude:
        path = osp.abspath(args.write_exclude)
        count = report.write_exclude(
            path, header=f'Written by tools/check_data.py {args.config}')
        print(f'Wrote {count} broken image(s) to {path}. To leave them '
              'out (after reading it), add to tools/train.py:\n'
              '  --cfg-options ' + dataset_cfg_options(
                  cfg, args.splits, dict(exclude_file=path)))
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
