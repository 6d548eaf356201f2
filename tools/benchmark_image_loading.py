"""Images per second of the data pipeline: full decoding, the image cache,
reduced JPEG decoding.

Generates photograph-like JPEGs (quality 90) of the three datasets' typical
sizes (600 x 450 HAM10000, 1024 x 1024 ISIC 2019, 2592 x 1728 ODIR-5K),
lays each size out as a HAM10000 folder and times ``dataset[i]`` (the whole
sample: loading, resizing to 224 x 224, ``PackInputs``) for

* ``default``: the configs' ``LoadImageFromFile`` (OpenCV) +
  ``Resize(scale=(224, 224), backend='pillow', interpolation='bilinear')``;
* ``cache png`` / ``cache npy``: the same pipeline with
  ``image_cache=dict(root=...)`` (built first, its build time reported);
* ``reduced``: ``LoadReducedImageFromFile(min_size=224)`` + the same
  ``Resize``.

Each pass reads every image once; passes are interleaved between the
methods and repeated, and the median and the range of the passes are
printed (the files are in the page cache after the first, untimed pass).
Throughput is measured in CPU time of this (single-threaded) process, so
that other programs on the machine slow the wall clock but not the
figures: images per CPU-second is images per second on one free core.
The wall-clock median is printed next to it.
The cache's samples are compared with the default ones (identical tensors
and meta information), the reduced decoding's with the default ones (mean
and largest absolute pixel difference).  Pin it to one core for a
per-core figure::

    taskset -c 0 python tools/benchmark_image_loading.py --repeats 7
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

#: (label, width, height) of the generated images.
DATASET_SIZES = (('HAM10000', 600, 450), ('ISIC 2019', 1024, 1024),
                 ('ODIR-5K', 2592, 1728))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=12,
                        help='images per size (default: 12)')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed passes per method (default: 5)')
    parser.add_argument('--size', type=int, default=224,
                        help='network input side (default: 224)')
    parser.add_argument(
        '--sizes', nargs='+', choices=[label for label, _, _ in
                                       DATASET_SIZES],
        default=[label for label, _, _ in DATASET_SIZES],
        help='which image sizes (default: all three)')
    parser.add_argument('--work-dir',
                        help='keep the generated images and caches here '
                        '(re-used by later runs; default: a temporary '
                        'folder)')
    args = parser.parse_args(argv)
    if args.images < 1 or args.repeats < 1:
        parser.error('--images and --repeats must be >= 1')
    return args


def make_images(root: str, width: int, height: int, count: int) -> None:
    """A HAM10000 folder of ``count`` generated ``width x height`` JPEGs
    (quality 90), unless it exists."""
    from lmfloss_mm.datasets import make_fake_ham10000
    from lmfloss_mm.datasets.synthetic import textured_image
    if os.path.isfile(os.path.join(root, 'HAM10000_metadata.csv')):
        return
    make_fake_ham10000(
        root, counts=dict(nv=count),
        draw=lambda cls, rng, size: textured_image(width, height, rng))


def pipelines(size: int) -> dict:
    resize = dict(type='Resize', scale=(size, size), backend='pillow',
                  interpolation='bilinear')
    return dict(
        default=[dict(type='LoadImageFromFile'), resize,
                 dict(type='PackInputs')],
        reduced=[dict(type='LoadReducedImageFromFile', min_size=size),
                 resize, dict(type='PackInputs')])


def build_cache(data_root: str, cache_root: str, pipeline: list,
                file_format: str) -> float:
    """Build an exact cache; seconds per image (0 when it was up to
    date)."""
    from mmengine.config import Config

    from lmfloss_mm.datasets.image_cache_build import (build_image_cache,
                                                       cache_tasks_of_config)
    cfg = Config(dict(test_dataloader=dict(dataset=dict(
        type='HAM10000', data_root=data_root, split='all',
        pipeline=pipeline,
        image_cache=dict(root=cache_root, file_format=file_format)))))
    (task, ) = cache_tasks_of_config(cfg, ['test'], logger=lambda _: None)
    start = time.process_time()
    report = build_image_cache(task, workers=1, progress=False)
    if report.failed:
        raise RuntimeError(report.format())
    seconds = time.process_time() - start
    return seconds / report.written if report.written else 0.


def time_pass(dataset) -> tuple:
    """``(CPU seconds, wall seconds)`` of reading every sample once."""
    cpu, wall = time.process_time(), time.perf_counter()
    for index in range(len(dataset)):
        dataset[index]
    return time.process_time() - cpu, time.perf_counter() - wall


def compare(dataset, reference) -> str:
    """``identical`` or ``MAD x, max y`` of the input tensors."""
    same, diffs = True, []
    for index in range(len(reference)):
        a, b = dataset[index], reference[index]
        diff = (a['inputs'].int() - b['inputs'].int()).abs()
        diffs.append(diff.numpy())
        same = same and bool((diff == 0).all()) and (
            a['data_samples'].metainfo == b['data_samples'].metainfo)
    if same:
        return 'identical'
    diffs = np.stack(diffs)
    return f'MAD {diffs.mean():.2f}, max {diffs.max()}'


def benchmark_size(label, width, height, args, work_dir) -> list:
    from lmfloss_mm.datasets import HAM10000
    data_root = os.path.join(work_dir, f'{width}x{height}')
    make_images(data_root, width, height, args.images)
    specs = pipelines(args.size)
    build_seconds = {}
    datasets = dict(default=HAM10000(data_root, split='all',
                                     pipeline=specs['default']))
    for file_format in ('png', 'npy'):
        root = os.path.join(work_dir, f'cache_{width}x{height}_{args.size}'
                            f'_{file_format}')
        build_seconds[file_format] = build_cache(data_root, root,
                                                 specs['default'],
                                                 file_format)
        datasets[f'cache {file_format}'] = HAM10000(
            data_root, split='all', pipeline=specs['default'],
            image_cache=dict(root=root, file_format=file_format))
    datasets['reduced'] = HAM10000(data_root, split='all',
                                   pipeline=specs['reduced'])
    for dataset in datasets.values():
        time_pass(dataset)  # warm-up: files in the page cache
    seconds = {name: [] for name in datasets}
    for _ in range(args.repeats):
        for name, dataset in datasets.items():
            seconds[name].append(time_pass(dataset))
    n = len(datasets['default'])
    default_rate = n / statistics.median(s for s, _ in seconds['default'])
    rows = []
    for name, dataset in datasets.items():
        rates = [n / s for s, _ in seconds[name]]
        rate = statistics.median(rates)
        wall = n / statistics.median(w for _, w in seconds[name])
        note = ('' if name == 'default' else
                compare(dataset, datasets['default']))
        fmt = name.split()[-1]
        if fmt in build_seconds and build_seconds[fmt]:
            note += f'; built in {1000 * build_seconds[fmt]:.1f} ms/image'
        rows.append((f'{label} {width}x{height}', name, rate, min(rates),
                     max(rates), rate / default_rate, wall, note))
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    import cv2
    import torch

    import lmfloss_mm  # noqa: F401  (registers the datasets, transforms)
    from mmengine.logging import MMLogger
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # no split tables and cache notes
    try:
        rows = run(args)
    finally:
        logger.setLevel(level)
    print(f'\n{args.images} images per size, {args.repeats} passes, input '
          f'{args.size} x {args.size}\n')
    print('| images | pipeline | images per CPU-s (median) | range of '
          'passes | x default | wall images/s | samples vs default |')
    print('|---|---|---:|---:|---:|---:|---|')
    for images, name, rate, low, high, ratio, wall, note in rows:
        print(f'| {images} | {name} | {rate:.0f} | {low:.0f}-{high:.0f} | '
              f'{ratio:.1f} | {wall:.0f} | {note} |')
    return 0


def run(args) -> list:
    """The table rows of every chosen size."""
    import cv2
    import torch
    cores = (sorted(os.sched_getaffinity(0))
             if hasattr(os, 'sched_getaffinity') else ['?'])
    print(f'{len(cores)} core(s) usable: {cores}; OpenCV '
          f'{cv2.__version__}, 1 thread; torch {torch.__version__}')
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = args.work_dir or tmp
        rows = []
        for label, width, height in DATASET_SIZES:
            if label in args.sizes:
                rows += benchmark_size(label, width, height, args, work_dir)
    return rows


if __name__ == '__main__':
    sys.exit(main())
