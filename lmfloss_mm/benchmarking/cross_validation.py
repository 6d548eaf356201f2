"""Cross-validated comparison of the methods on the ISIC 2018 Task 3 test
images (``tools/benchmark_isic2018_cv.py``).

1. :func:`prepare_data` builds a data root the project's ``HAM10000``
   dataset class reads and one split file per fold (:mod:`.folds`);
2. :func:`run_benchmark` trains every method x fold x seed in this process
   (:func:`~.in_process.train_test_run`) from the preset's configs, tests
   the best-validation-macro-F1 checkpoint on the held-out fold and stores
   the :class:`~lmfloss_mm.results.RunRecord` as
   ``runs/<method>/fold<k>_seed<s>/metrics.json``. A second stage starts
   from the best checkpoint of its first stage's run of the same fold and
   seed, which runs before it; a post-hoc method is computed from its
   source run's stored predictions (:mod:`.methods`). (Runs with a record are
   skipped, so an interrupted benchmark resumes; records of the first
   version, ``result.json``, count as done too.) Each record stores the
   provenance of its run (code, libraries, threads, CPU kernels, flags;
   :mod:`lmfloss_mm.results.provenance`); new runs are refused in a work
   root whose stored runs were made under another one
   (:func:`check_same_provenance`);
3. :func:`write_report` writes the paired report (:mod:`lmfloss_mm.results.
   paired`, against CE and LMF) as ``results.md``, the forest plot of the
   paired macro-F1 differences (``forest_macro_f1.png``), one CSV row per
   run (``runs.csv``) and the records (``runs.jsonl``) to the work root.

Presets: ``cpu``, a narrow ResNet-18 from scratch at 48 px on the paper
configs' recipe, with the settings of each method's paper-scale config
(``configs/benchmark/resnet18-w16_48px_1xb32-{method}-{epochs}e_isic2018-cv.
py``); ``gpu``, the paper-scale configs themselves
(``configs/ham10000/{arch}_in1k-pre_1xb32-{method}-{epochs}e_ham10000.py``).
"""
import datetime
import json
import os
import os.path as osp
import platform
import shutil
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from lmfloss_mm.datasets.splits import split_class_counts
from lmfloss_mm.fileio import dump_json_atomic, write_text_atomic
from lmfloss_mm.grid.stages import FirstStageMissing, first_stage_of
from lmfloss_mm.results.labels import LOSS_ORDER
from lmfloss_mm.results.paired import (DEFAULT_REFERENCES,
                                       LEADERBOARD_SCALARS, paired_report)
from lmfloss_mm.results.provenance import (check_stored_provenance,
                                           collect_provenance,
                                           describe_provenance,
                                           provenance_of)
from lmfloss_mm.results.reader import LEGACY_RECORD_FILE, load_runs
from lmfloss_mm.results.record import CV_DATASET, RECORD_FILE, RunRecord
from lmfloss_mm.results.summary import runs_table
from lmfloss_mm.results.work_dir import PREDICTIONS_FILE
from lmfloss_mm.runner.progress import RunProgress
from lmfloss_mm.runner.train_test import load_config
from lmfloss_mm.runner.work_dir import best_checkpoint, save_best_key
from .folds import (build_data_root, cv_assignment, split_file_path,
                    write_cv_split_files)
from .in_process import train_test_run
from .methods import (DEFAULT_METHODS, METHODS, POST_HOC, find_config,
                      method_of_config, order_methods, post_hoc_record)
from .overrides import (drop_pretrained_init, set_image_size,
                        set_loader_options, use_amp)

__all__ = ['LOSSES', 'METHODS', 'REFERENCES', 'ARCHS', 'PRESETS',
           'SETTING_KEYS', 'FOREST_FILE', 'CVOptions', 'SettingsMismatch',
           'settings_of', 'check_settings', 'set_epochs', 'run_epochs',
           'plan_runs', 'build_config', 'config_summary', 'prepare_data',
           'first_stage_checkpoint', 'planned_load_from', 'post_hoc_run',
           'run_one', 'collect_records', 'check_same_provenance',
           'write_report', 'dry_run', 'run_benchmark']

#: The paper's four losses, in report order: the methods trained by default.
LOSSES = DEFAULT_METHODS
#: The methods every other method is compared with, pair by pair.
REFERENCES = DEFAULT_REFERENCES
ARCHS = ('resnet50', 'efficientnetv2-s')
#: Config of every preset (relative to the repository; ``{method}`` and
#: ``{arch}`` are filled in, ``{epochs}`` is the number in the config's
#: name), default work root and backbone label.
PRESETS = {
    'cpu': dict(
        config='configs/benchmark/resnet18-w16_48px_1xb32-{method}-{epochs}e'
        '_isic2018-cv.py',
        work_root='work_dirs/benchmark_isic2018',
        arch='resnet18-w16'),
    'gpu': dict(
        config='configs/ham10000/{arch}_in1k-pre_1xb32-{method}-{epochs}e_'
        'ham10000.py',
        work_root='work_dirs/benchmark_isic2018_gpu_{arch}',
        arch='resnet50'),
}
#: Settings that must match between stored runs and the current call.
SETTING_KEYS = ('preset', 'arch', 'img_size', 'epochs', 'n_folds',
                'val_ratio', 'split_seed', 'from_scratch', 'amp',
                'cfg_options')
#: Value of a setting in runs stored without it.
SETTING_DEFAULTS = dict(cfg_options={}, from_scratch=False, amp=None)


class SettingsMismatch(ValueError):
    """Stored runs were made with other settings than requested."""


@dataclass
class CVOptions:
    """Everything a benchmark call is made of (the tool's options).

    Args:
        repo (str): Folder holding ``configs/``.
        data (str): Folder with ``ISIC2018_Task3_Test_GroundTruth.csv`` and
            the images.
        preset (str): ``'cpu'`` or ``'gpu'``.
        arch (str): Backbone of the gpu preset (:data:`ARCHS`).
        methods (Sequence[str]): Methods to run (:data:`METHODS`; the
            first stages and post-hoc sources they need are added).
        n_folds (int): Cross-validation folds (>= 2).
        run_folds (Sequence[int], optional): Train only these folds.
        seeds (Sequence[int]): Training seeds (the folds do not change).
        split_seed (int): Seed of the fold and validation assignment.
        val_ratio (float): Validation part of the training folds.
        epochs (int, optional): Training epochs (StepLR scaled with them).
        img_size (int, optional): Square input size.
        work_root (str, optional): Results, runs and the data root.
        resize_cache (bool): cpu preset: store the images pre-resized.
        keep_checkpoints (bool): Keep the last-epoch checkpoint.
        cfg_options (dict): Config overrides, applied last.
        from_scratch (bool): Remove the pretrained initialisation.
        amp (str, optional): ``AmpOptimWrapper`` dtype.
        num_workers (int, optional): Data-loader processes.
        cache_images (bool): Keep decoded images in memory.
    """
    repo: str
    data: str
    preset: str = 'cpu'
    arch: str = 'resnet50'
    methods: Sequence[str] = LOSSES
    n_folds: int = 5
    run_folds: Optional[Sequence[int]] = None
    seeds: Sequence[int] = (0, )
    split_seed: int = 0
    val_ratio: float = 0.2
    epochs: Optional[int] = None
    img_size: Optional[int] = None
    work_root: Optional[str] = None
    resize_cache: bool = True
    keep_checkpoints: bool = False
    cfg_options: dict = field(default_factory=dict)
    from_scratch: bool = False
    amp: Optional[str] = None
    num_workers: Optional[int] = None
    cache_images: bool = False

    def config_path(self, method: str) -> str:
        """Absolute path of the preset's config of ``method`` (of its
        source for a post-hoc method).

        Raises:
            FileNotFoundError: The preset has no config of the method.
        """
        if method in POST_HOC:
            method = POST_HOC[method].source
        template = PRESETS[self.preset]['config'].format(
            arch=self.arch, method='{method}', epochs='{epochs}')
        return find_config(osp.join(self.repo, template), method)

    def first_stage(self, method: str) -> Optional[str]:
        """The method whose best checkpoint the runs of ``method`` start
        from (the ``SecondStageHook`` of its config), or None."""
        if method in POST_HOC:
            return None
        first = first_stage_of(self.config_path(method))
        return None if first is None else method_of_config(first)

    def planned_methods(self) -> List[str]:
        """:attr:`methods` with the first stages and post-hoc sources they
        need, each before its dependants (:func:`.methods.order_methods`)."""
        return order_methods(list(self.methods), self.first_stage)[0]

    def arch_label(self) -> str:
        return self.arch if self.preset == 'gpu' else PRESETS['cpu']['arch']

    def root(self) -> str:
        """The work root, absolute."""
        return osp.abspath(self.work_root or PRESETS[self.preset][
            'work_root'].format(arch=self.arch))


# ------------------------------------------------------------------- config
def image_size_of(cfg) -> int:
    """The (square) Resize size of the test pipeline."""
    sizes = [t.scale for t in cfg.test_dataloader.dataset.pipeline
             if t.type == 'Resize']
    if len(sizes) != 1 or len(set(sizes[0])) != 1:
        raise ValueError(f'expected one square Resize, got {sizes}')
    return int(sizes[0][0])


def _scaled(value: int, epochs: int, old: int) -> int:
    return max(1, round(value * epochs / old))


def set_epochs(cfg, epochs: int) -> None:
    """Set ``max_epochs`` and scale with it StepLR's ``step_size`` (the
    paper's 30 of 100 epochs stays 30%), the ``start_epoch`` of a
    ``DeferredReweightingHook`` (80 of 100 stays 80%) and the ``T_max`` of
    a cosine schedule that spans the training."""
    old = cfg.train_cfg.max_epochs
    cfg.train_cfg.max_epochs = epochs
    if epochs == old:
        return
    schedulers = cfg.param_scheduler
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for scheduler in schedulers:
        if scheduler.get('type') == 'StepLR':
            scheduler.step_size = _scaled(scheduler.step_size, epochs, old)
        elif scheduler.get('type') == 'CosineAnnealingLR' and \
                scheduler.get('T_max') == old:
            scheduler.T_max = epochs
    for hook in cfg.get('custom_hooks', None) or []:
        if hook.get('type') == 'DeferredReweightingHook' and \
                hook.get('start_epoch') is not None:
            hook.start_epoch = _scaled(hook.start_epoch, epochs, old)


def run_epochs(opts: CVOptions, method: str) -> Optional[int]:
    """Training epochs of ``method``'s runs under ``opts.epochs``: the
    number itself for a one-stage method; a second stage's own epochs
    scaled by ``opts.epochs`` / its first stage's epochs (at least 1);
    None to keep the config's (no ``opts.epochs``, or a second stage
    without epochs such as tau-normalisation's sweep)."""
    if opts.epochs is None:
        return None
    first = opts.first_stage(method)
    if first is None:
        return opts.epochs
    own = load_config(opts.config_path(method)).train_cfg.get('max_epochs')
    if own is None:
        return None
    return _scaled(own, opts.epochs, load_config(
        opts.config_path(first)).train_cfg.max_epochs)


def build_config(opts: CVOptions, method: str, data_root: str,
                 split_file: str, work_dir: str, seed: int,
                 load_from: Optional[str] = None):
    """The config of one run: the preset's config of ``method`` pointed at
    the fold's split file, with the seed, work dir, epochs
    (:func:`run_epochs`), image size, the options of :mod:`.overrides` and
    ``load_from`` (a second stage's first-stage checkpoint);
    ``cfg_options`` last."""
    cfg = load_config(opts.config_path(method))
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        dataset.data_root = data_root
        dataset.split_file = split_file
        dataset.split = split
    epochs = run_epochs(opts, method)
    if epochs is not None:
        set_epochs(cfg, epochs)
    if opts.img_size is not None:
        set_image_size(cfg, opts.img_size)
    cfg.work_dir = work_dir
    # unique per run, so that runs in one process never share MMEngine's
    # logger or visualizer instances (they are looked up by this name)
    cfg.experiment_name = '{}_{}_{:%Y%m%d_%H%M%S_%f}'.format(
        osp.basename(osp.dirname(work_dir)), osp.basename(work_dir),
        datetime.datetime.now())
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.log_level = 'WARNING'
    if load_from is not None:
        cfg.load_from = load_from
    if opts.from_scratch:
        drop_pretrained_init(cfg)
    if opts.amp:
        use_amp(cfg, opts.amp)
    set_loader_options(cfg, opts.num_workers, opts.cache_images)
    if opts.cfg_options:
        cfg.merge_from_dict(opts.cfg_options)
    return cfg


def config_summary(cfg) -> dict:
    """What a dry run shows of a run's config."""
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
        epochs=cfg.train_cfg.get('max_epochs'),
        train_loop=cfg.train_cfg.get('type', 'EpochBasedTrainLoop'),
        optimizer=cfg.optim_wrapper.optimizer.to_dict(),
        amp=cfg.optim_wrapper.get('dtype'),
        param_scheduler=[s.to_dict() for s in schedulers],
        batch_size=cfg.train_dataloader.batch_size,
        num_workers=cfg.train_dataloader.num_workers,
        save_best=cfg.default_hooks.checkpoint.save_best,
        custom_hooks=[h.to_dict() for h in cfg.custom_hooks],
        evaluator=cfg.test_evaluator.to_dict(),
        load_from=cfg.get('load_from'),
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


# ----------------------------------------------------------------- settings
def settings_of(opts: CVOptions) -> dict:
    """The settings of this call that define the experiment
    (:data:`SETTING_KEYS`), plus ``work_root`` and ``resize_cache``."""
    probe = load_config(opts.config_path(next(
        m for m in opts.planned_methods() if opts.first_stage(m) is None)))
    settings = dict(
        preset=opts.preset,
        arch=opts.arch_label(),
        img_size=opts.img_size or image_size_of(probe),
        epochs=opts.epochs or probe.train_cfg.max_epochs,
        n_folds=opts.n_folds,
        val_ratio=opts.val_ratio,
        split_seed=opts.split_seed,
        from_scratch=opts.from_scratch,
        amp=opts.amp,
        # as stored in JSON (tuples become lists), for the settings check
        cfg_options=json.loads(json.dumps(dict(opts.cfg_options))),
        work_root=opts.root())
    settings['resize_cache'] = (
        settings['img_size']
        if opts.resize_cache and opts.preset == 'cpu' else None)
    return settings


def _setting(stored: dict, key: str):
    """A stored setting (its default if the run predates it)."""
    return stored.get(key, SETTING_DEFAULTS.get(key))


def check_settings(stored: dict, settings: dict, path: str) -> None:
    """Refuse to mix runs of different settings in one work root.

    Raises:
        SettingsMismatch: naming the settings that differ.
    """
    diff = {k: (_setting(stored, k), settings[k]) for k in SETTING_KEYS
            if _setting(stored, k) != settings[k]}
    if diff:
        raise SettingsMismatch(
            f'{path} was made with other settings (stored, requested): '
            f'{diff}. Use another --work-root or delete the old runs.')


def environment() -> dict:
    """torch version, threads and device, stored with every run."""
    import torch
    return dict(
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        device=('cuda: ' + torch.cuda.get_device_name(0))
        if torch.cuda.is_available() else
        f'cpu: {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} cores')


# ------------------------------------------------------------------- runs
def run_dir(work_root: str, method: str, fold: int, seed: int) -> str:
    return osp.join(work_root, 'runs', method, f'fold{fold}_seed{seed}')


def plan_runs(opts: CVOptions) -> List[dict]:
    """Every (method, fold, seed) to run, seed-major then fold then method
    (so an interrupted benchmark has complete pairs), each first stage or
    post-hoc source before its dependants (:meth:`CVOptions.
    planned_methods`).

    Each plan is ``dict(loss=<method>, fold=, seed=, kind=, source=)``:
    ``kind`` is ``'train'``, ``'second stage'`` (``source``: the first
    stage, whose best checkpoint of the same fold and seed it loads) or
    ``'post-hoc'`` (``source``: the run whose predictions it adjusts).
    """
    folds = opts.run_folds if opts.run_folds is not None else range(
        opts.n_folds)
    kinds = {}
    for method in opts.planned_methods():
        first = opts.first_stage(method)
        kinds[method] = (
            ('post-hoc', POST_HOC[method].source) if method in POST_HOC else
            ('second stage', first) if first else ('train', None))
    return [dict(loss=method, fold=fold, seed=seed, kind=kind, source=source)
            for seed in opts.seeds for fold in folds
            for method, (kind, source) in kinds.items()]


def data_root_of(settings: dict) -> str:
    """``<work_root>/data`` (symlinks) or ``<work_root>/data_<size>px``
    (images stored pre-resized)."""
    size = settings['resize_cache']
    return osp.join(settings['work_root'],
                    f'data_{size}px' if size else 'data')


def prepare_data(opts: CVOptions, settings: dict):
    """Build the data root and the fold split files; returns
    ``(data_root, annotation table)``."""
    data_root = data_root_of(settings)
    table = build_data_root(opts.data, data_root, settings['resize_cache'])
    write_cv_split_files(table, data_root, opts.n_folds, opts.val_ratio,
                         opts.split_seed)
    return data_root, table


def _stored(folder: str) -> Optional[str]:
    for name in (RECORD_FILE, LEGACY_RECORD_FILE):
        if osp.isfile(osp.join(folder, name)):
            return osp.join(folder, name)
    return None


def _cleanup_checkpoints(work_dir: str) -> None:
    """Remove the last-epoch checkpoints (the best one stays: the tested
    model, and where second stages start from)."""
    for name in os.listdir(work_dir):
        if name.startswith('epoch_') and name.endswith('.pth') or \
                name == 'last_checkpoint':
            os.remove(osp.join(work_dir, name))


def _first_stage_best(plan: dict, settings: dict, opts: CVOptions):
    """``(folder, save_best key)`` of the first-stage run of ``plan``."""
    folder = run_dir(settings['work_root'], plan['source'], plan['fold'],
                     plan['seed'])
    return folder, save_best_key(load_config(opts.config_path(
        plan['source'])))


def planned_load_from(plan: dict, settings: dict, opts: CVOptions) -> str:
    """What a dry run shows as a second stage's ``load_from``: the
    pattern of its first stage's best checkpoint."""
    folder, save_best = _first_stage_best(plan, settings, opts)
    return osp.join(folder, f'best_{save_best.replace("/", "_")}_*.pth')


def first_stage_checkpoint(plan: dict, settings: dict,
                           opts: CVOptions) -> str:
    """The best checkpoint of the first-stage run (``plan['source']``) of
    the second-stage run ``plan``, same fold and seed.

    Raises:
        FirstStageMissing: That run has no record or no best checkpoint;
            the message names its folder and the fix.
    """
    folder, save_best = _first_stage_best(plan, settings, opts)
    checkpoint = best_checkpoint(folder, save_best) if _stored(folder) \
        else None
    if checkpoint is None:
        raise FirstStageMissing(
            f'{plan["loss"]} fold {plan["fold"]} seed {plan["seed"]} starts '
            f'from the best checkpoint of its first stage {plan["source"]}, '
            f'{planned_load_from(plan, settings, opts)}, which does not '
            'exist (that run failed, or its folder was changed); delete '
            f'{folder} and run the benchmark again')
    return checkpoint


def post_hoc_run(plan: dict, settings: dict) -> RunRecord:
    """Compute and store the record of the post-hoc run ``plan`` from the
    stored record and predictions of its source run (same fold and seed;
    :func:`.methods.post_hoc_record`). Always recomputed, so it follows
    its source.

    Raises:
        FileNotFoundError: The source run has no record.
    """
    from lmfloss_mm.results.reader import read_record
    method, fold, seed = plan['loss'], plan['fold'], plan['seed']
    source_dir = run_dir(settings['work_root'], plan['source'], fold, seed)
    stored = _stored(source_dir)
    if stored is None:
        raise FileNotFoundError(
            f'{method} fold {fold} seed {seed} is computed from the '
            f'predictions of {plan["source"]}, which has no record in '
            f'{source_dir}; run {plan["source"]} first')
    work_dir = run_dir(settings['work_root'], method, fold, seed)
    os.makedirs(work_dir, exist_ok=True)
    record = post_hoc_record(read_record(stored), method,
                             osp.join(work_dir, RECORD_FILE),
                             osp.join(work_dir, PREDICTIONS_FILE))
    dump_json_atomic(record.to_dict(), record.path)
    return record


def run_one(plan: dict, settings: dict, opts: CVOptions, data_root: str,
            table, progress: RunProgress) -> RunRecord:
    """Train and test one (method, fold, seed), or read its stored record
    (a post-hoc method: compute it, :func:`post_hoc_run`).

    Raises:
        SettingsMismatch: The stored record has other settings.
        FirstStageMissing: A second stage's first stage left no best
            checkpoint.
        RuntimeError: The runner trained on other class counts than the
            split file gives.
    """
    from lmfloss_mm.results.reader import read_record
    loss, fold, seed = plan['loss'], plan['fold'], plan['seed']
    work_dir = run_dir(settings['work_root'], loss, fold, seed)
    tag = progress.start(f'{loss} fold {fold} seed {seed}')
    if plan.get('kind') == 'post-hoc':
        record = post_hoc_run(plan, settings)
        progress.print(f'{tag}: from the {plan["source"]} predictions, '
                       f'macro-F1 {record.scalar("macro_f1"):.1f}')
        return record
    stored = _stored(work_dir)
    if stored:
        record = read_record(stored)
        check_settings(record.info.get('settings', {}), settings, stored)
        progress.print(f'{tag}: stored, macro-F1 '
                       f'{record.scalar("macro_f1"):.1f}')
        return record
    if osp.isdir(work_dir):  # an interrupted run: start it again
        shutil.rmtree(work_dir)
    load_from = first_stage_checkpoint(plan, settings, opts) \
        if plan.get('kind') == 'second stage' else None
    os.makedirs(work_dir)
    split_file = split_file_path(data_root, fold, opts.n_folds,
                                 opts.val_ratio, opts.split_seed)
    cfg = build_config(opts, loss, data_root, split_file, work_dir, seed,
                       load_from)
    counts = {split: c.tolist() for split, c in split_class_counts(
        table, cv_assignment(table, fold, opts.n_folds, opts.val_ratio,
                             opts.split_seed)).items()}
    epochs = cfg.train_cfg.get('max_epochs')
    details = [f'{epochs} epochs' if epochs is not None else
               cfg.train_cfg.type, f'{settings["img_size"]} px']
    if load_from:
        details.append('from ' + osp.relpath(load_from, settings['work_root']))
    progress.print(f'{tag}: training ({", ".join(details)}) ...')
    record = train_test_run(
        cfg, osp.relpath(opts.config_path(loss), opts.repo), seed, fold,
        labels=dict(dataset=CV_DATASET, backbone=settings['arch'],
                    loss=loss),
        info=dict(settings={k: settings[k] for k in SETTING_KEYS},
                  resize_cache=settings['resize_cache'],
                  environment=environment(), split_file=split_file,
                  split_counts=counts,
                  **(dict(first_stage=plan['source'], load_from=load_from)
                     if load_from else {})),
        progress=progress)
    if not opts.keep_checkpoints:
        _cleanup_checkpoints(work_dir)
    if record.info['train_counts'] != counts['train']:
        raise RuntimeError(
            f'{tag}: the runner trained on {record.info["train_counts"]} '
            f'images per class, the split file says {counts["train"]}')
    progress.print(
        f'{tag}: macro-F1 {record.scalar("macro_f1"):.1f}, balanced acc. '
        f'{record.scalar("balanced_accuracy"):.1f}, best epoch '
        f'{record.info["best_epoch"]}, {progress.finish()}')
    return record


# ------------------------------------------------------------------ report
def _sort_key(record: RunRecord):
    """Seed, fold, then the losses in report order."""
    rank = LOSS_ORDER.index(record.loss) if record.loss in LOSS_ORDER \
        else len(LOSS_ORDER)
    return (record.seed, record.fold, rank, record.loss)


def collect_records(work_root: str) -> List[RunRecord]:
    """Every stored fold under ``<work_root>/runs`` (any version), else the
    records of ``<work_root>/runs.jsonl``, in seed, fold, loss order."""
    runs_dir = osp.join(work_root, 'runs')
    sources = [runs_dir] if osp.isdir(runs_dir) else []
    if not sources and osp.isfile(osp.join(work_root, 'runs.jsonl')):
        sources = [osp.join(work_root, 'runs.jsonl')]
    records = load_runs(sources) if sources else []
    return sorted((r for r in records if r.fold is not None), key=_sort_key)


def _settings(record: RunRecord) -> dict:
    return record.info.get('settings', {})


def _environment(record: RunRecord) -> dict:
    return record.info.get('environment') or record.info


def report_title(records: Sequence[RunRecord]) -> str:
    first = _settings(records[0]) if records else {}
    return (f'ISIC 2018 Task 3 test images, {first.get("n_folds", "?")}-fold '
            f'cross-validation, {first.get("preset", "?")} preset '
            f'({first.get("arch", "?")}, {first.get("img_size", "?")} px, '
            f'{first.get("epochs", "?")} epochs)')


def report_notes(records: Sequence[RunRecord]) -> List[str]:
    """What the runs have in common and where they differ."""
    varying = {k for k in SETTING_KEYS
               if len({json.dumps(_setting(_settings(r), k), sort_keys=True)
                       for r in records}) > 1}
    notes = []
    if varying:
        notes.append(f'**Warning:** the runs differ in {sorted(varying)}.')
    notes += _provenance_notes(records)
    if records:
        first, env = _settings(records[0]), _environment(records[0])
        seeds = sorted({r.seed for r in records})
        folds = sorted({r.fold for r in records})
        notes.append(
            f'Folds {folds}, seeds {seeds}; split seed '
            f'{first.get("split_seed")}, validation {first.get("val_ratio")}'
            f' of the training folds; torch {env.get("torch")}, '
            f'{env.get("device")}, {env.get("threads")} threads.')
        changes = [text for text, on in (
            ('backbone from scratch (pretrained init removed)',
             _setting(first, 'from_scratch')),
            (f'{_setting(first, "amp")} mixed precision',
             _setting(first, 'amp')),
            (f'config overrides {_setting(first, "cfg_options")}',
             _setting(first, 'cfg_options'))) if on]
        if changes:
            notes.append('Changed from the configs: ' + '; '.join(changes) +
                         '.')
    return notes


def _provenance_notes(records: Sequence[RunRecord]) -> List[str]:
    """A warning naming the provenance fields in which the runs differ, else
    ``Made with ...``; runs stored before provenance was recorded are
    counted, not checked."""
    known = [r for r in records if provenance_of(r)]
    if not known:
        return []
    unknown = len(records) - len(known)
    untested = (f' {unknown} run(s) were stored before provenance was '
                'recorded and are not checked.' if unknown else '')
    mixed = check_stored_provenance(known, strict=False)
    if mixed:
        return ['**Warning:** the runs differ in provenance, so runs with '
                'the same fold and seed are not comparable: ' +
                '; '.join(mixed) + '.' + untested]
    return ['Made with ' + describe_provenance(provenance_of(known[0])) +
            '.' + untested]


#: The forest plot of the paired macro-F1 differences, in the work root.
FOREST_FILE = 'forest_macro_f1.png'


def write_report(work_root: str, records: Sequence[RunRecord]) -> str:
    """Write ``results.md`` (the paired report against each of
    :data:`REFERENCES` that has runs, with AUC and many/medium/few-shot
    accuracy), the forest plot :data:`FOREST_FILE` (when a method has a
    paired difference), ``runs.csv`` and ``runs.jsonl`` to the work root
    and return the Markdown."""
    records = sorted(records, key=_sort_key)
    losses = {r.loss for r in records}
    references = [ref for ref in REFERENCES if ref in losses] or ['ce']
    markdown = paired_report(records, references[0],
                             title=report_title(records),
                             notes=report_notes(records),
                             scalars=LEADERBOARD_SCALARS,
                             more_references=references[1:])
    if _write_forest(work_root, records, references):
        markdown += (f'\nForest plot of the paired macro-F1 differences: '
                     f'{FOREST_FILE}\n')
    write_text_atomic(osp.join(work_root, 'results.md'), markdown)
    runs_table(records).write_csv(osp.join(work_root, 'runs.csv'))
    write_text_atomic(osp.join(work_root, 'runs.jsonl'), ''.join(
        json.dumps(r.to_dict(), sort_keys=True) + '\n' for r in records))
    return markdown


def _write_forest(work_root: str, records: Sequence[RunRecord],
                  references: Sequence[str]) -> Optional[str]:
    """:func:`~lmfloss_mm.visualization.plot_runs_forest` of the records'
    macro-F1 into the work root; None when no method has a paired
    difference."""
    from lmfloss_mm.visualization import plot_runs_forest, save_figure
    fig = plot_runs_forest(records, references, 'macro_f1',
                           title=report_title(records))
    return None if fig is None else save_figure(
        fig, osp.join(work_root, FOREST_FILE))


# -------------------------------------------------------------------- main
def dry_run(opts: CVOptions, settings: dict, out=print) -> List[dict]:
    """Build (without running) the config of every planned run, print a
    summary of each and return the summaries."""
    data_root = data_root_of(settings)
    summaries = []
    for plan in plan_runs(opts):
        config = osp.relpath(opts.config_path(plan['loss']), opts.repo)
        if plan['kind'] == 'post-hoc':
            summary = dict(plan, config=config, post_hoc=POST_HOC[
                plan['loss']]._asdict())
            summaries.append(summary)
            out(json.dumps(summary, sort_keys=True))
            continue
        split_file = split_file_path(data_root, plan['fold'], opts.n_folds,
                                     opts.val_ratio, opts.split_seed)
        load_from = planned_load_from(plan, settings, opts) \
            if plan['kind'] == 'second stage' else None
        cfg = build_config(
            opts, plan['loss'], data_root, split_file,
            run_dir(settings['work_root'], plan['loss'], plan['fold'],
                    plan['seed']), plan['seed'], load_from)
        summary = dict(plan, config=config, **config_summary(cfg))
        summaries.append(summary)
        out(json.dumps(summary, sort_keys=True))
    out(f'{len(summaries)} runs planned, preset {opts.preset}, work root '
        f'{settings["work_root"]}; nothing trained (--dry-run).')
    return summaries


def check_same_provenance(work_root: str) -> None:
    """Refuse to add runs to a work root whose stored runs were made by
    other code or under other conditions than this process (records
    without provenance, stored before it was recorded, are not checked).

    Raises:
        SettingsMismatch: Naming the differing provenance fields, their
            values and the runs, and the fix.
    """
    stored = collect_records(work_root)
    if not any(provenance_of(r) for r in stored):
        return
    this = dict(name='this process', provenance=collect_provenance())
    mixed = check_stored_provenance([*stored, this], strict=False)
    if mixed:
        raise SettingsMismatch(
            f'The runs in {work_root} were made under another provenance '
            'than this process, and new runs would not be comparable with '
            'them run by run:\n- ' + '\n- '.join(mixed) + '\nUse another '
            '--work-root, or reproduce the stored conditions (see '
            'docs/benchmark_isic2018.md, "Reproducibility").')


def run_benchmark(opts: CVOptions, settings: dict, out=None):
    """Prepare the data, run (or read) every planned run, write the report.

    Returns:
        tuple: ``(records of the work root, failures)`` where failures are
        ``(plan, error text)`` of the runs that raised (the others went on).

    Raises:
        SettingsMismatch: Runs are to be trained in a work root whose stored
            runs were made with other settings or under another provenance
            (:func:`check_same_provenance`).
    """
    plans = plan_runs(opts)
    to_run = sum(p['kind'] != 'post-hoc' and _stored(run_dir(
        settings['work_root'], p['loss'], p['fold'], p['seed'])) is None
        for p in plans)
    if to_run:  # before anything is built
        check_same_provenance(settings['work_root'])
    progress = RunProgress(len(plans), to_run, out=out)
    start = time.time()
    data_root, table = prepare_data(opts, settings)
    progress.print(
        f'Data root {data_root}: {len(table)} images, class counts '
        f'{dict(zip(table.classes, table.class_counts().tolist()))}; '
        f'{opts.n_folds} folds in {osp.join(data_root, "cv_splits")} '
        f'({time.time() - start:.0f} s)')
    failures = []
    for plan in plans:
        try:
            run_one(plan, settings, opts, data_root, table, progress)
        except (KeyboardInterrupt, SettingsMismatch):
            raise
        except Exception as e:  # keep going; reported at the end
            failures.append((plan, repr(e)))
            progress.print(f'{progress.tag} {progress.failed()}: {e!r}')
    records = collect_records(settings['work_root'])
    return records, failures
