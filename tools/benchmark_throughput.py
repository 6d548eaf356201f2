"""Training throughput (images/s) of configs, on data already on the device
and through the real data pipeline.

Every step is the Runner's ``model.train_step`` (data preprocessing,
forward, loss, backward, optimizer step) with the model and optimizer
wrapper built from the config (``lmfloss_mm.benchmarking.throughput``).
Pretrained initialisation is always removed: speed does not depend on the
weights, and nothing is downloaded.

1. ``resident``: one batch of random images on the device, fed again and
   again: the model's speed.  With ``--repeats R`` the configs take turns R
   times and the median is kept, so that two configs (e.g. cross-entropy and
   LMF) are measured under the same conditions.
2. ``loader`` (with ``--data-root``): the config's training pipeline and
   dataset class over ``--data-root`` / ``--split`` through MMEngine's
   dataloader with ``--workers`` processes, images decoded once and cached
   (``cache_images``); ``--decode-baseline`` adds the first config with
   every image decoded in every step.

Results go to stdout (a Markdown table at the end) and, one JSON line per
measurement, to ``--out``.

Examples::

    python tools/benchmark_throughput.py \\
        configs/ham10000/resnet50_in1k-pre_1xb32-ce-100e_ham10000.py \\
        configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py \\
        --amp bf16 --memory-formats contiguous channels_last
    python tools/benchmark_throughput.py CONFIG --amp bf16 \\
        --data-root ../shared/data/isic2018_task3_test --split isic2018_test \\
        --workers 8 --decode-baseline
"""
import argparse
import gc
import json
import os
import os.path as osp
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

import lmfloss_mm  # noqa: E402,F401  (registers the project's modules)
from lmfloss_mm.benchmarking.overrides import (AMP_DTYPES,  # noqa: E402
                                               set_image_size)
from lmfloss_mm.benchmarking.parts import log  # noqa: E402
from lmfloss_mm.benchmarking.throughput import (  # noqa: E402
    SKIPPED_PREFIX, build_train_loader, build_training, class_counts_of,
    loader_batches, measure, median_of, resident_batches)

MEMORY_FORMATS = ('contiguous', 'channels_last')



def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Training throughput (images/s) of configs.')
    parser.add_argument('configs', nargs='+', help='training configs')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu',
        choices=('cuda', 'cpu'),
        help='default: cuda when available, else cpu')
    parser.add_argument(
        '--amp', choices=sorted(AMP_DTYPES), default=None,
        help='mixed precision with AmpOptimWrapper (CUDA only; default: '
        'float32)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--img-size', type=int, default=None,
                        help='square input size (default: the config\'s)')
    parser.add_argument('--steps', type=int, default=40,
                        help='timed steps of a resident measurement')
    parser.add_argument('--warmup', type=int, default=10,
                        help='untimed steps before the first repeat of a '
                        'config (later repeats: 2)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='resident measurements per config (median)')
    parser.add_argument(
        '--memory-formats', nargs='+', choices=MEMORY_FORMATS,
        default=['contiguous'],
        help='model memory formats of the resident measurements '
        '(the loader measurements use the first)')
    parser.add_argument('--data-root', default=None,
                        help='dataset root for the loader measurements '
                        '(none without it)')
    parser.add_argument('--split', default='train',
                        help='dataset split of the loader measurements')
    parser.add_argument('--workers', type=int,
                        default=min(8, os.cpu_count() or 1),
                        help='data-loader processes (default: min(8, CPUs))')
    parser.add_argument('--loader-steps', type=int, default=100,
                        help='timed steps of a loader measurement')
    parser.add_argument('--loader-warmup', type=int, default=10)
    parser.add_argument('--decode-baseline', action='store_true',
                        help='also measure the first config\'s loader '
                        'without the image cache')
    parser.add_argument('--budget-s', type=float, default=None,
                        help='skip the measurements that would end after '
                        'this many seconds (estimated from the last one)')
    parser.add_argument('--out', default=None,
                        help='append one JSON line per measurement here')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s); 1 is '
                        'much faster on a CPU that other jobs share')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available (use --device '
                     'cpu)')
    if args.amp and args.device != 'cuda':
        parser.error('--amp needs --device cuda (AmpOptimWrapper is CUDA '
                     'only)')
    for name in ('batch_size', 'steps', 'repeats', 'loader_steps'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup < 0 or args.loader_warmup < 0 or args.workers < 0:
        parser.error('--warmup, --loader-warmup and --workers must be >= 0')
    if args.amp:
        args.amp = AMP_DTYPES[args.amp]
    return args


def describe(cfg: Config) -> dict:
    backbone = cfg.model.backbone
    arch = backbone.type + (str(backbone.depth) if 'depth' in backbone else
                            f'-{backbone.arch}' if 'arch' in backbone else '')
    return dict(arch=arch, loss=cfg.model.head.loss.type)


def load_configs(args):
    configs = {}
    for path in args.configs:
        cfg = Config.fromfile(path)
        if args.img_size:
            set_image_size(cfg, args.img_size)
        configs[osp.splitext(osp.basename(path))[0]] = cfg
    return configs


def image_size(cfg: Config) -> int:
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform.type == 'Resize':
            return int(transform.scale[0])
    raise ValueError('the training pipeline has no Resize; give --img-size')


def default_counts(num_classes: int) -> list:
    """Counts decaying from 1000 to 10 (imbalance ratio 100)."""
    return [max(1, round(1000 * 100**(-i / max(num_classes - 1, 1))))
            for i in range(num_classes)]


class Recorder:
    """Stores, prints and appends (``--out``) every measurement; tells
    whether the next one fits in the budget."""

    def __init__(self, args, environment):
        self.args = args
        self.environment = environment
        self.start = time.monotonic()
        self.last_s = 0.0
        self.rows = []
        self.skipped = []

    def fits(self, what: str) -> bool:
        budget = self.args.budget_s
        if budget is None or (time.monotonic() - self.start + self.last_s
                              <= budget):
            return True
        self.skipped.append(what)
        log(f'skipped {what}: budget {budget:.0f} s', self.start)
        return False

    def add(self, row: dict) -> None:
        row = dict(row, **self.environment)
        self.rows.append(row)
        cache = {True: ', cached', False: ', decoded every step'}.get(
            row.get('cache_images'), '')
        log(f"{row['config']} [{row['source']}, {row['memory_format']}"
            f"{cache}]: "
            f"{row['images_per_s']:.0f} img/s, {row['step_ms']:.1f} ms/step"
            + (f", peak {row['peak_mem_gib']:.1f} GiB"
               if 'peak_mem_gib' in row else ''), self.start)
        if self.args.out:
            with open(self.args.out, 'a', encoding='utf-8') as f:
                f.write(json.dumps(row, sort_keys=True) + '\n')


def release(device: str) -> None:
    gc.collect()
    if device == 'cuda':
        torch.cuda.empty_cache()


def run_resident(args, configs, counts, recorder) -> None:
    for memory_format in args.memory_formats:
        if not recorder.fits(f'resident {memory_format}'):
            continue
        built = {}
        for name, cfg in configs.items():
            built[name] = build_training(
                cfg, counts[name], args.device, args.amp,
                channels_last=memory_format == 'channels_last')
        results = {name: [] for name in configs}
        for repeat in range(args.repeats):
            for name, cfg in configs.items():
                if not recorder.fits(f'{name} {memory_format} repeat '
                                     f'{repeat}'):
                    continue
                began = time.monotonic()
                model, optim_wrapper = built[name]
                size = image_size(cfg)
                batches = resident_batches(args.batch_size, size,
                                           counts[name], args.device,
                                           args.seed)
                results[name].append(measure(
                    model, optim_wrapper, batches, args.steps,
                    args.warmup if repeat == 0 else 2, args.device))
                recorder.last_s = time.monotonic() - began
        for name, cfg in configs.items():
            if results[name]:
                recorder.add(dict(
                    median_of(results[name]), config=name,
                    source='resident', memory_format=memory_format,
                    img_size=image_size(cfg), **describe(cfg)))
        del built
        release(args.device)


def run_loader(args, configs, counts, recorder) -> None:
    memory_format = args.memory_formats[0]
    plan = [(name, True) for name in configs]
    if args.decode_baseline:
        plan.insert(1, (next(iter(configs)), False))
    for name, cache in plan:
        if not recorder.fits(f'{name} loader cache={cache}'):
            continue
        began = time.monotonic()
        cfg = configs[name]
        loader = build_train_loader(cfg, args.data_root, args.split,
                                    args.workers, cache_images=cache,
                                    batch_size=args.batch_size,
                                    seed=args.seed)
        model, optim_wrapper = build_training(
            cfg, counts[name], args.device, args.amp,
            channels_last=memory_format == 'channels_last')
        dataset_size = len(loader.dataset)
        batches = loader_batches(loader)
        result = measure(model, optim_wrapper, batches, args.loader_steps,
                         args.loader_warmup, args.device)
        del batches, loader, model, optim_wrapper
        release(args.device)
        recorder.last_s = time.monotonic() - began
        recorder.add(dict(result, config=name, source='loader',
                          memory_format=memory_format, cache_images=cache,
                          workers=args.workers, img_size=image_size(cfg),
                          dataset_size=dataset_size, **describe(cfg)))


def format_table(rows) -> str:
    lines = ['| config | source | memory format | images/s | ms/step | '
             'peak GiB |', '|---|---|---|---|---|---|']
    for row in rows:
        source = row['source'] + (
            '' if row['source'] == 'resident' else
            f", {row['workers']} workers, "
            f"{'cached' if row['cache_images'] else 'decoded every step'}")
        peak = row.get('peak_mem_gib')
        lines.append(
            f"| {row['config']} | {source} | {row['memory_format']} | "
            f"{row['images_per_s']:.0f} | {row['step_ms']:.1f} | "
            f"{'' if peak is None else f'{peak:.1f}'} |")
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    # the current MMEngine logger; WARNING hides init_weights' report of
    # every parameter
    MMLogger.get_instance('benchmark_throughput', log_level='WARNING')
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = load_configs(args)
    environment = dict(
        device=args.device,
        device_name=torch.cuda.get_device_name(0) if args.device == 'cuda'
        else platform.processor() or platform.machine(),
        torch=torch.__version__, amp=args.amp, batch_size=args.batch_size)
    log(f'{len(configs)} config(s) on {environment["device_name"]}, torch '
        f'{torch.__version__}, amp {args.amp or "off (float32)"}, batch '
        f'{args.batch_size}')
    counts = {}
    for name, cfg in configs.items():
        num_classes = cfg.model.head.num_classes
        if args.data_root:
            loader = build_train_loader(cfg, args.data_root, args.split, 0,
                                        batch_size=args.batch_size)
            counts[name] = class_counts_of(loader.dataset, num_classes)
            dataset_size = len(loader.dataset)
        else:
            counts[name] = default_counts(num_classes)
    if args.data_root:
        log(f'{args.split} of {args.data_root}: {dataset_size} images, class '
            f'counts {counts[next(iter(configs))]}')
    recorder = Recorder(args, environment)
    run_resident(args, configs, counts, recorder)
    if args.data_root:
        run_loader(args, configs, counts, recorder)
    print(format_table(recorder.rows), flush=True)
    if recorder.skipped:
        print(f'{SKIPPED_PREFIX}{json.dumps(recorder.skipped)}', flush=True)
    return recorder.rows


if __name__ == '__main__':
    main()
