"""Cross-validated CE / focal / LDAM / LMF benchmark on real dermoscopy images.

Data: the 1,512 images of the ISIC 2018 Task 3 test set (the HAM10000
distribution; NV 909, BKL 217, MEL 171, BCC 93, DF 44, AKIEC 43, VASC 35).
The script

1. builds a data root the project's ``HAM10000`` dataset class reads
   (``HAM10000_metadata.csv`` with the official header made from the one-hot
   ground truth, ``lesion_id`` = image id because none are published, the
   images symlinked) under ``<work-root>/data``,
2. writes one split file per fold (project format ``image_id,group,label,
   split``): stratified k-fold cross-validation, every image tested exactly
   once, and a stratified validation part of the training folds for
   checkpoint selection (:mod:`lmfloss_mm.benchmarking.folds`),
3. trains every loss x fold x seed with MMEngine's ``Runner`` (in-process)
   from the project's configs, tests the best-validation-macro-F1 checkpoint
   on the held-out fold and stores ``runs/<loss>/fold<k>_seed<s>/result.json``
   (runs whose result exists are skipped, so an interrupted benchmark
   resumes),
4. prints a Markdown report (mean ± std over folds x seeds, per-class F1,
   paired differences to cross-entropy with 95% t-intervals) and writes
   ``results.md``, ``results.csv`` and ``runs.jsonl`` in the work root.

Presets:

* ``cpu`` (default): ``configs/benchmark/resnet18-w16_48px_1xb32-{loss}-12e_
  isic2018-cv.py``, a narrow ResNet-18 from scratch at 48 px that inherits
  the paper config of the loss (dataset class, runtime, Adam, loss
  settings).  4 losses x 5 folds x 1 seed take about an hour on 2 CPU cores.
* ``gpu`` (``--gpu``): the paper configs
  ``configs/ham10000/{arch}_in1k-pre_1xb32-{loss}-100e_ham10000.py``
  (ImageNet-pretrained ResNet-50 or EfficientNetV2-S, 224 px, 100 epochs).

Examples::

    python tools/benchmark_isic2018_cv.py                  # CPU preset
    python tools/benchmark_isic2018_cv.py --seeds 0 1 2 --epochs 10
    python tools/benchmark_isic2018_cv.py --gpu --arch efficientnetv2-s
    python tools/benchmark_isic2018_cv.py --dry-run        # print the plan
    python tools/benchmark_isic2018_cv.py --report-only    # stored results
"""
import argparse
import copy
import datetime
import functools
import gc
import glob
import json
import os
import os.path as osp
import platform
import re
import shutil
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from mmengine.config import Config, DictAction  # noqa: E402

from lmfloss_mm.benchmarking.folds import (build_data_root,  # noqa: E402
                                           cv_assignment, split_counts,
                                           split_file_path,
                                           write_cv_split_files)
from lmfloss_mm.benchmarking.report import (format_report,  # noqa: E402
                                            records_to_csv, records_to_jsonl,
                                            sort_key)

LOSSES = ('ce', 'focal', 'ldam', 'lmf')
ARCHS = ('resnet50', 'efficientnetv2-s')
DEFAULT_DATA = REPO / '..' / 'shared' / 'data' / 'isic2018_task3_test'
#: Config of every preset; ``{loss}`` and ``{arch}`` are filled in.
PRESETS = {
    'cpu': dict(
        config='configs/benchmark/resnet18-w16_48px_1xb32-{loss}-12e_'
        'isic2018-cv.py',
        work_root='work_dirs/benchmark_isic2018',
        arch='resnet18-w16'),
    'gpu': dict(
        config='configs/ham10000/{arch}_in1k-pre_1xb32-{loss}-100e_'
        'ham10000.py',
        work_root='work_dirs/benchmark_isic2018_gpu_{arch}',
        arch='resnet50'),
}
#: Settings that must match between stored results and the current call.
SETTING_KEYS = ('preset', 'arch', 'img_size', 'epochs', 'n_folds',
                'val_ratio', 'split_seed', 'cfg_options')
#: Value of a setting in results stored without it.
SETTING_DEFAULTS = dict(cfg_options={})
#: Result keys copied from ImbalancedClsMetric (``imbalanced/<key>``).
METRIC_KEYS = ('accuracy', 'balanced_accuracy', 'macro_f1', 'macro_recall',
               'macro_precision', 'weighted_f1', 'auc_macro', 'ece',
               'f1_classwise', 'recall_classwise', 'precision_classwise',
               'support_classwise', 'confusion_matrix')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='5-fold cross-validated CE/focal/LDAM/LMF benchmark on '
        'the ISIC 2018 Task 3 test images.')
    parser.add_argument(
        '--data', default=str(DEFAULT_DATA),
        help='folder with ISIC2018_Task3_Test_GroundTruth.csv and the images '
        '(default: ../shared/data/isic2018_task3_test next to the repo)')
    parser.add_argument(
        '--preset', choices=sorted(PRESETS), default='cpu',
        help='cpu: small ResNet-18 from scratch (configs/benchmark); gpu: '
        'the paper configs (configs/ham10000) at 224 px')
    parser.add_argument('--gpu', action='store_const', const='gpu',
                        dest='preset', help='same as --preset gpu')
    parser.add_argument('--arch', choices=ARCHS, default='resnet50',
                        help='backbone of the gpu preset')
    parser.add_argument('--losses', nargs='+', choices=LOSSES,
                        default=list(LOSSES))
    parser.add_argument('--folds', type=int, default=5,
                        help='number of cross-validation folds')
    parser.add_argument('--run-folds', type=int, nargs='+', default=None,
                        help='train only these folds (default: all)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='training seeds (the folds do not change)')
    parser.add_argument('--split-seed', type=int, default=0,
                        help='seed of the fold and validation assignment')
    parser.add_argument('--val-ratio', type=float, default=0.2,
                        help='validation part of the training folds')
    parser.add_argument('--epochs', type=int, default=None,
                        help='training epochs (default: the config\'s); the '
                        'StepLR step is scaled with it')
    parser.add_argument('--img-size', type=int, default=None,
                        help='square input size (default: the config\'s)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: 1 for the cpu '
                        'preset, which is much faster than 2 when other jobs '
                        'share the cores; unchanged for gpu)')
    parser.add_argument('--work-root', default=None,
                        help='results, runs and the data root (default: '
                        'work_dirs/benchmark_isic2018[_gpu_<arch>])')
    parser.add_argument(
        '--no-resize-cache', action='store_true',
        help='cpu preset: symlink the original images instead of storing '
        'them pre-resized to --img-size (the cache gives the same pixels and '
        'saves the JPEG decoding in every epoch)')
    parser.add_argument('--keep-checkpoints', action='store_true',
                        help='keep the last-epoch checkpoint too (the best '
                        'one is always kept)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={},
        help='extra config overrides (key=value), applied last')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the runs and their configs; train nothing')
    parser.add_argument('--report-only', action='store_true',
                        help='rebuild the report from stored results')
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error('--folds must be >= 2')
    if args.run_folds is not None and not all(
            0 <= f < args.folds for f in args.run_folds):
        parser.error(f'--run-folds must be in [0, {args.folds})')
    if not 0 < args.val_ratio < 1:
        parser.error('--val-ratio must be in (0, 1)')
    return args


# ----------------------------------------------------------------- settings
def arch_of(args) -> str:
    return args.arch if args.preset == 'gpu' else PRESETS['cpu']['arch']


def work_root_of(args) -> str:
    root = args.work_root or PRESETS[args.preset]['work_root'].format(
        arch=args.arch)
    return osp.abspath(root)


def config_path(preset: str, loss: str, arch: str = 'resnet50') -> str:
    """Absolute path of the config of ``loss`` in ``preset``."""
    return str(REPO / PRESETS[preset]['config'].format(loss=loss, arch=arch))


def data_root_of(settings: dict) -> str:
    """``<work_root>/data`` (symlinks) or ``<work_root>/data_<size>px``
    (images stored pre-resized)."""
    size = settings['resize_cache']
    return osp.join(settings['work_root'],
                    f'data_{size}px' if size else 'data')


def run_dir(work_root: str, loss: str, fold: int, seed: int) -> str:
    return osp.join(work_root, 'runs', loss, f'fold{fold}_seed{seed}')


def plan_runs(args) -> List[dict]:
    """Every (loss, fold, seed) to run, seed-major then fold then loss (so
    an interrupted benchmark has complete pairs)."""
    folds = args.run_folds if args.run_folds is not None else range(
        args.folds)
    return [dict(loss=loss, fold=fold, seed=seed) for seed in args.seeds
            for fold in folds for loss in args.losses]


# ------------------------------------------------------------------- config
def set_image_size(cfg: Config, size: int) -> None:
    """Make every ``Resize`` of the three pipelines square ``size``."""
    for split in ('train', 'val', 'test'):
        for transform in cfg[f'{split}_dataloader'].dataset.pipeline:
            if transform.type == 'Resize':
                transform.scale = (size, size)


def image_size_of(cfg: Config) -> int:
    """The (square) Resize size of the test pipeline."""
    sizes = [t.scale for t in cfg.test_dataloader.dataset.pipeline
             if t.type == 'Resize']
    if len(sizes) != 1 or len(set(sizes[0])) != 1:
        raise ValueError(f'expected one square Resize, got {sizes}')
    return int(sizes[0][0])


def set_epochs(cfg: Config, epochs: int) -> None:
    """Set ``max_epochs`` and scale StepLR's ``step_size`` with it (the
    paper's 30 of 100 epochs stays 30%)."""
    old = cfg.train_cfg.max_epochs
    cfg.train_cfg.max_epochs = epochs
    schedulers = cfg.param_scheduler
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for scheduler in schedulers:
        if scheduler.get('type') == 'StepLR' and epochs != old:
            scheduler.step_size = max(1, round(scheduler.step_size * epochs /
                                               old))


@functools.lru_cache(maxsize=None)
def load_config(config_file: str) -> Config:
    """``Config.fromfile`` once per file (parsing the base chain takes a
    second; callers deep-copy the result).  Without yapf formatting: the
    Runner prints and dumps the config of every run, and yapf needs seconds
    to minutes for a config that holds long paths."""
    cfg = Config.fromfile(config_file, format_python_code=False)
    # MMEngine 0.10.7 drops format_python_code for non-lazy configs
    object.__setattr__(cfg, '_format_python_code', False)
    return cfg


def build_config(config_file: str,
                 data_root: str,
                 split_file: str,
                 work_dir: str,
                 seed: int,
                 epochs: Optional[int] = None,
                 img_size: Optional[int] = None,
                 cfg_options: Optional[dict] = None) -> Config:
    """The config of one run: ``config_file`` pointed at the fold's split
    file, with the seed, work dir and optional epochs / image size."""
    cfg = copy.deepcopy(load_config(config_file))
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        dataset.data_root = data_root
        dataset.split_file = split_file
        dataset.split = split
    if epochs is not None:
        set_epochs(cfg, epochs)
    if img_size is not None:
        set_image_size(cfg, img_size)
    cfg.work_dir = work_dir
    # unique per run, so that runs in one process never share MMEngine's
    # logger or visualizer instances (they are looked up by this name)
    cfg.experiment_name = '{}_{}_{:%Y%m%d_%H%M%S_%f}'.format(
        osp.basename(osp.dirname(work_dir)), osp.basename(work_dir),
        datetime.datetime.now())
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.log_level = 'WARNING'
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def config_summary(cfg: Config) -> dict:
    """What a dry run shows (and tests check) of a run's config."""
    backbone = cfg.model.backbone
    init = backbone.get('init_cfg') or {}
    schedulers = cfg.param_scheduler
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    return dict(
        backbone=dict(type=backbone.type, depth=backbone.get('depth'),
                      arch=backbone.get('arch'),
                      base_channels=backbone.get('base_channels'),
                      pretrained=init.get('checkpoint')),
        head_in_channels=cfg.model.head.in_channels,
        loss_cfg=cfg.model.head.loss.to_dict(),
        img_size=image_size_of(cfg),
        epochs=cfg.train_cfg.max_epochs,
        optimizer=cfg.optim_wrapper.optimizer.to_dict(),
        param_scheduler=[s.to_dict() for s in schedulers],
        batch_size=cfg.train_dataloader.batch_size,
        num_workers=cfg.train_dataloader.num_workers,
        save_best=cfg.default_hooks.checkpoint.save_best,
        custom_hooks=[h.to_dict() for h in cfg.custom_hooks],
        evaluator=cfg.test_evaluator.to_dict(),
        datasets={
            split: dict(type=cfg[f'{split}_dataloader'].dataset.type,
                        data_root=cfg[f'{split}_dataloader'].dataset.data_root,
                        split=cfg[f'{split}_dataloader'].dataset.split,
                        split_file=cfg[f'{split}_dataloader'].dataset
                        .split_file)
            for split in ('train', 'val', 'test')
        },
        seed=cfg.randomness.seed,
        work_dir=cfg.work_dir)


# ---------------------------------------------------------------- training
def read_val_curve(work_dir: str) -> List[dict]:
    """Validation macro-F1 per epoch from MMEngine's ``scalars.json``."""
    curve = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            for line in f:
                entry = json.loads(line)
                if 'imbalanced/macro_f1' in entry:
                    curve.append(dict(epoch=entry['step'],
                                      macro_f1=entry['imbalanced/macro_f1']))
    return curve


def train_and_test(cfg: Config) -> dict:
    """Train, then test the best-validation-macro-F1 checkpoint.

    Returns:
        dict: The test metrics (``imbalanced/`` prefix removed), the best
        epoch and its validation macro-F1, the validation curve and the
        training class counts.
    """
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    best = glob.glob(osp.join(cfg.work_dir, 'best_imbalanced_macro_f1_*.pth'))
    if len(best) != 1:
        raise RuntimeError(f'expected one best checkpoint in {cfg.work_dir}, '
                           f'found {best}')
    runner.load_checkpoint(best[0])
    metrics = runner.test()
    out = {k: _plain(metrics[f'imbalanced/{k}']) for k in METRIC_KEYS
           if f'imbalanced/{k}' in metrics}
    out['best_epoch'] = int(re.search(r'epoch_(\d+)', best[0]).group(1))
    curve = read_val_curve(cfg.work_dir)
    out['val_curve'] = [round(c['macro_f1'], 4) for c in curve]
    out['best_val_macro_f1'] = max(
        (c['macro_f1'] for c in curve if c['epoch'] == out['best_epoch']),
        default=None)
    train_set = runner.train_dataloader.dataset
    out['train_counts'] = [
        int((train_set.get_gt_labels() == c).sum())
        for c in range(len(train_set.metainfo['classes']))
    ]
    return out


def _plain(value):
    """Tensors / numpy values -> JSON-able Python values."""
    if hasattr(value, 'tolist'):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def release_memory() -> None:
    """Free the finished run's Runner (it holds reference cycles, and with
    the paper configs' ``persistent_workers=True`` its loader processes) and
    cached GPU memory before the next run."""
    gc.collect()
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def cleanup_checkpoints(work_dir: str, keep_last: bool) -> None:
    """Remove the last-epoch checkpoint (the best one stays)."""
    if keep_last:
        return
    for path in glob.glob(osp.join(work_dir, 'epoch_*.pth')):
        os.remove(path)
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.exists(last):
        os.remove(last)


def write_json_atomic(path: str, data: dict) -> None:
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def load_result(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def setting(record: dict, key: str):
    """A setting of a stored result (its default if it predates it)."""
    return record.get(key, SETTING_DEFAULTS.get(key))


def check_settings(record: dict, settings: dict, path: str) -> None:
    """Refuse to mix results of different settings in one work root."""
    diff = {k: (setting(record, k), settings[k]) for k in SETTING_KEYS
            if setting(record, k) != settings[k]}
    if diff:
        raise SystemExit(
            f'{path} was made with other settings (stored, requested): '
            f'{diff}. Use another --work-root or delete the old runs.')


def run_one(plan: dict, settings: dict, args, data_root: str,
            table, index: int, total: int) -> dict:
    """Train and test one (loss, fold, seed), or load its stored result."""
    loss, fold, seed = plan['loss'], plan['fold'], plan['seed']
    work_dir = run_dir(settings['work_root'], loss, fold, seed)
    result_file = osp.join(work_dir, 'result.json')
    tag = f'[{index}/{total}] {loss} fold {fold} seed {seed}'
    if osp.isfile(result_file):
        record = load_result(result_file)
        check_settings(record, settings, result_file)
        print(f'{tag}: stored, macro-F1 {record["macro_f1"]:.1f}', flush=True)
        return record
    if osp.isdir(work_dir):  # an interrupted run: start it again
        shutil.rmtree(work_dir)
    os.makedirs(work_dir)
    split_file = split_file_path(data_root, fold, args.folds, args.val_ratio,
                                 args.split_seed)
    config_file = config_path(args.preset, loss, args.arch)
    cfg = build_config(config_file, data_root, split_file, work_dir, seed,
                       args.epochs, args.img_size, args.cfg_options)
    print(f'{tag}: training ({settings["epochs"]} epochs, '
          f'{settings["img_size"]} px) ...', flush=True)
    start = time.time()
    metrics = train_and_test(cfg)
    elapsed = time.time() - start
    release_memory()
    cleanup_checkpoints(work_dir, args.keep_checkpoints)
    counts = split_counts(
        table,
        cv_assignment(table, fold, args.folds, args.val_ratio,
                      args.split_seed))
    record = dict(settings_record(settings), loss=loss, fold=fold, seed=seed,
                  config=osp.relpath(config_file, REPO),
                  split_file=split_file, classes=list(table.classes),
                  split_counts=counts, time_s=round(elapsed, 1),
                  finished=datetime.datetime.now().isoformat(
                      timespec='seconds'),
                  **metrics)
    if record['train_counts'] != counts['train']:
        raise RuntimeError(
            f'{tag}: the runner trained on {record["train_counts"]} images '
            f'per class, the split file says {counts["train"]}')
    write_json_atomic(result_file, record)
    print(f'{tag}: macro-F1 {record["macro_f1"]:.1f}, balanced acc. '
          f'{record["balanced_accuracy"]:.1f}, best epoch '
          f'{record["best_epoch"]}, {elapsed:.0f} s', flush=True)
    return record


# ------------------------------------------------------------------ report
def settings_of(args) -> dict:
    """The settings of this call that define the experiment."""
    probe = load_config(config_path(args.preset, args.losses[0],
                                    args.arch))
    settings = dict(
        preset=args.preset,
        arch=arch_of(args),
        img_size=args.img_size or image_size_of(probe),
        epochs=args.epochs or probe.train_cfg.max_epochs,
        n_folds=args.folds,
        val_ratio=args.val_ratio,
        split_seed=args.split_seed,
        # as stored in JSON (tuples become lists), for the settings check
        cfg_options=json.loads(json.dumps(dict(args.cfg_options))),
        work_root=work_root_of(args))
    settings['resize_cache'] = (
        None if args.no_resize_cache or args.preset != 'cpu' else
        settings['img_size'])
    return settings


def settings_record(settings: dict) -> dict:
    """Settings plus the environment, as stored in every result."""
    import torch
    return dict({k: settings[k] for k in SETTING_KEYS},
                resize_cache=settings['resize_cache'],
                torch=torch.__version__,
                threads=torch.get_num_threads(),
                device=('cuda: ' + torch.cuda.get_device_name(0))
                if torch.cuda.is_available() else
                f'cpu: {platform.processor() or platform.machine()}, '
                f'{os.cpu_count()} cores')


def collect_results(work_root: str) -> List[dict]:
    """Every stored ``result.json`` under ``<work_root>/runs`` (or, if there
    are none, the lines of ``<work_root>/runs.jsonl``)."""
    paths = sorted(glob.glob(osp.join(work_root, 'runs', '*', '*',
                                      'result.json')))
    if paths:
        return sorted((load_result(p) for p in paths), key=sort_key)
    jsonl = osp.join(work_root, 'runs.jsonl')
    if osp.isfile(jsonl):
        with open(jsonl) as f:
            return sorted((json.loads(line) for line in f if line.strip()),
                          key=sort_key)
    return []


def report_title(records: Sequence[dict]) -> str:
    first = records[0] if records else {}
    return (f'ISIC 2018 Task 3 test images, {first.get("n_folds", "?")}-fold '
            f'cross-validation, {first.get("preset", "?")} preset '
            f'({first.get("arch", "?")}, {first.get("img_size", "?")} px, '
            f'{first.get("epochs", "?")} epochs)')


def write_report(work_root: str, records: Sequence[dict]) -> str:
    """Write ``results.md``, ``results.csv`` and ``runs.jsonl`` and return
    the Markdown."""
    varying = {k for k in SETTING_KEYS
               if len({json.dumps(setting(r, k), sort_keys=True)
                       for r in records}) > 1}
    notes = []
    if varying:
        notes.append(f'**Warning:** the runs differ in {sorted(varying)}.')
    if records:
        first = records[0]
        seeds = sorted({r['seed'] for r in records})
        folds = sorted({r['fold'] for r in records})
        notes.append(
            f'Folds {folds}, seeds {seeds}; split seed '
            f'{first.get("split_seed")}, validation {first.get("val_ratio")}'
            f' of the training folds; torch {first.get("torch")}, '
            f'{first.get("device")}, {first.get("threads")} threads.')
    markdown = format_report(records, title=report_title(records),
                             notes=notes)
    os.makedirs(work_root, exist_ok=True)
    for name, text in (('results.md', markdown),
                       ('results.csv', records_to_csv(records)),
                       ('runs.jsonl', records_to_jsonl(records))):
        with open(osp.join(work_root, name), 'w', encoding='utf-8') as f:
            f.write(text)
    return markdown


# -------------------------------------------------------------------- main
def prepare_data(args, settings: dict):
    """Build the data root and the fold split files; return (data_root,
    table)."""
    data_root = data_root_of(settings)
    table = build_data_root(args.data, data_root, settings['resize_cache'])
    write_cv_split_files(table, data_root, args.folds, args.val_ratio,
                         args.split_seed)
    return data_root, table


def dry_run(args, settings: dict) -> List[dict]:
    """Build (without running) the config of every planned run, print a
    summary of each and return the summaries."""
    data_root = data_root_of(settings)
    summaries = []
    for plan in plan_runs(args):
        config_file = config_path(args.preset, plan['loss'], args.arch)
        split_file = split_file_path(data_root, plan['fold'], args.folds,
                                     args.val_ratio, args.split_seed)
        cfg = build_config(config_file, data_root, split_file,
                           run_dir(settings['work_root'], plan['loss'],
                                   plan['fold'], plan['seed']), plan['seed'],
                           args.epochs, args.img_size, args.cfg_options)
        summary = dict(plan, config=osp.relpath(config_file, REPO),
                       **config_summary(cfg))
        summaries.append(summary)
        print(json.dumps(summary, sort_keys=True))
    print(f'{len(summaries)} runs planned, preset {args.preset}, work root '
          f'{settings["work_root"]}; nothing trained (--dry-run).')
    return summaries


def main(argv=None):
    args = parse_args(argv)
    settings = settings_of(args)
    work_root = settings['work_root']
    if args.report_only:
        records = collect_results(work_root)
        if not records:
            raise SystemExit(f'No stored results under {work_root}.')
        print(write_report(work_root, records))
        return records
    if args.dry_run:
        return dry_run(args, settings)
    import torch
    threads = args.threads or (1 if args.preset == 'cpu' else None)
    if threads:
        torch.set_num_threads(threads)
    start = time.time()
    data_root, table = prepare_data(args, settings)
    print(f'Data root {data_root}: {len(table)} images, class counts '
          f'{dict(zip(table.classes, table.class_counts().tolist()))}; '
          f'{args.folds} folds in {osp.join(data_root, "cv_splits")} '
          f'({time.time() - start:.0f} s)', flush=True)
    plans = plan_runs(args)
    failures = []
    for index, plan in enumerate(plans, start=1):
        try:
            run_one(plan, settings, args, data_root, table, index, len(plans))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # keep going; reported at the end
            failures.append((plan, repr(e)))
            print(f'[{index}/{len(plans)}] {plan} FAILED: {e!r}', flush=True)
    records = collect_results(work_root)
    print()
    print(write_report(work_root, records))
    print(f'Written: {osp.join(work_root, "results.md")}, results.csv, '
          'runs.jsonl', flush=True)
    if failures:
        raise SystemExit(f'{len(failures)} run(s) failed: {failures}')
    return records


if __name__ == '__main__':
    main()
