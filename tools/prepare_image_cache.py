"""Prepare the images of a config once, for fast reading in every epoch.

Builds the ``train``/``val``/``test`` datasets of a config (annotations and
file lists), runs the cached transforms of their pipelines on every image in
parallel and stores the results losslessly in the cache folder named by the
datasets' ``image_cache=dict(root=...)`` (or by ``--root`` for datasets
without one).  Re-running it re-encodes only images whose source, transforms
or settings changed; ``--check`` only reports.  See ``docs/image_cache.md``.

Exit status: 0 when every cache is complete and up to date, 1 otherwise.

Examples::

    # exact cache of the official 224 x 224 recipe, in
    # <data root>/lmfloss_image_cache/224px
    python tools/prepare_image_cache.py \\
        configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py \\
        --root lmfloss_image_cache/224px --workers 16
    # images reduced to a shorter side of 256 (random-crop pipelines)
    python tools/prepare_image_cache.py CONFIG --root /fast/disk/ham_256 \\
        --short-side 256
"""
import argparse
import sys

import lmfloss_mm  # noqa: F401  (registers the datasets and transforms)
from lmfloss_mm.datasets.config_splits import (add_config_arguments,
                                               dataset_cfg_options,
                                               load_dataset_config)
from lmfloss_mm.datasets.image_cache import FILE_FORMATS
from lmfloss_mm.datasets.image_cache_build import (build_image_cache,
                                                   cache_tasks_of_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run the first transforms of a config\'s pipelines once '
        'per image and store the results, for the datasets\' image_cache.')
    add_config_arguments(parser, 'splits to cache (default: all three)',
                         workers_help='encoding processes')
    parser.add_argument(
        '--root',
        help='cache folder for the datasets without image_cache in the '
        'config; as in the config option, a relative path is relative to '
        'each dataset\'s data root (e.g. lmfloss_image_cache/224px)')
    parser.add_argument(
        '--short-side', type=int,
        help='with --root: store the decoded images with this shorter side '
        '(for random crops; not bit-identical), instead of the exact '
        'output of the loader and the Resize/CenterCrop after it')
    parser.add_argument(
        '--file-format', choices=FILE_FORMATS,
        help="with --root: 'png' (default) or 'npy' (larger, faster)")
    parser.add_argument(
        '--hash', action='store_true',
        help='record the sha256 of every source image (for '
        "verify='hash', and so that copies with new modification times "
        'are not re-encoded)')
    parser.add_argument(
        '--force', action='store_true', help='re-encode every image')
    parser.add_argument(
        '--check', action='store_true',
        help='only report whether the caches are complete and up to date')
    args = parser.parse_args(argv)
    if (args.short_side is not None or args.file_format) and not args.root:
        parser.error('--short-side and --file-format go with --root')
    return args


def command_line_option(args):
    """The ``image_cache`` option given by ``--root`` (None without)."""
    if not args.root:
        return None
    option = dict(root=args.root)
    if args.short_side is not None:
        option['short_side'] = args.short_side
    if args.file_format:
        option['file_format'] = args.file_format
    return option


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_dataset_config(args.config, args.cfg_options)
    option = command_line_option(args)
    tasks = cache_tasks_of_config(cfg, args.splits, option)
    if not tasks:
        print('Nothing to cache: no dataset of the chosen splits sets '
              'image_cache. Pass --root DIR or set image_cache=dict(root=...) '
              'in the datasets.')
        return 1
    ok = True
    for task in tasks:
        report = build_image_cache(
            task, workers=args.workers, progress=not args.no_progress,
            force=args.force, record_hash=args.hash, check_only=args.check)
        if args.check:
            state = 'up to date' if report.up_to_date else 'NOT up to date'
            print(f'{report.root} ({", ".join(task.splits)}): {state}')
            if not report.up_to_date:
                print(report.format())
        else:
            print(report.format())
        ok = ok and (report.up_to_date if args.check else not report.failed)
    if not ok and not args.check:
        print('Some images could not be cached, so no manifest was written '
              'and the datasets will not use the cache. Fix or exclude them '
              '(python tools/check_data.py CONFIG --write-exclude FILE), '
              'then run this again.')
    if ok and option and not args.check:
        print('To read the cache, add to tools/train.py / tools/test.py:\n'
              '  --cfg-options ' + dataset_cfg_options(
                  cfg, args.splits,
                  {f'image_cache.{k}': v for k, v in option.items()},
                  unless_set='image_cache'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
