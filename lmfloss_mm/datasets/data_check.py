"""Pre-flight check of a config's image files: decode every image of every
split before training and report all broken ones at once.

:func:`check_config` builds the ``train``/``val``/``test`` datasets of a
config (annotations and file lists only), :func:`check_datasets` checks
built datasets (what :class:`~lmfloss_mm.engine.hooks.CheckDataHook` does
before the first iteration).  Each image file is decoded once per decoder
setting, in parallel, by :func:`~lmfloss_mm.datasets.image_check.check_image`
with the settings of the pipeline's loading transform.  The result is a
:class:`DataCheckReport`: every broken image with its split(s), and per
split the counts, the decoded sizes and the stored colour modes.
"""
import copy
import multiprocessing
import sys
from dataclasses import dataclass, field
from typing import (Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

import numpy as np
from mmengine.dataset import (BaseDataset, ClassBalancedDataset,
                              ConcatDataset, RepeatDataset)
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.utils import track_parallel_progress, track_progress

from .image_check import (MODE_NAMES, DecodeSpec, ImageRecord, check_image,
                          count_by, find_image_loaders, sample_images,
                          write_exclude_file)
from .labels import unwrap_dataset
from .splits import SPLIT_NAMES
from .utils import IMG_EXTENSIONS, DatasetLayoutError

#: Converted images listed in the text report before it says how many more
#: there are (broken images are always all listed).
MAX_LISTED_CONVERTED = 20
_WRAPPERS = (ConcatDataset, RepeatDataset, ClassBalancedDataset)

ImageTask = Tuple[str, DecodeSpec]


class DataCheckError(RuntimeError):
    """Broken images were found; ``report`` is the
    :class:`DataCheckReport`."""

    def __init__(self, report: 'DataCheckReport'):
        super().__init__(report.format())
        self.report = report


@dataclass
class SplitListing:
    """The image files of one split, before they are decoded.

    Attributes:
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        dataset_type (str): Class name(s) of the dataset(s).
        num_samples (int, optional): Samples of the (un-wrapped) datasets;
            None if a dataset could not be built.
        images (list[tuple[str, DecodeSpec]]): Each image file once, with
            the decoder settings of the pipeline that loads it.
        missing (list[ImageRecord]): Annotated images the dataset did not
            find on disk.
        excluded (list[str]): Image ids left out by ``exclude_file``.
        exclude_files (list[str]): The ``exclude_file`` of each dataset
            that has one.
        errors (list[str]): Why (a part of) the split could not be listed.
        notes (list[str]): Remarks printed with the report.
    """
    split: str
    dataset_type: str = ''
    num_samples: Optional[int] = 0
    images: List[ImageTask] = field(default_factory=list)
    missing: List[ImageRecord] = field(default_factory=list)
    excluded: List[str] = field(default_factory=list)
    exclude_files: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def _missing_records(error: DatasetLayoutError) -> List[ImageRecord]:
    root = getattr(error, 'search_root', '')
    reason = (f'not found under {root} (searched recursively for '
              f'<id>{{{",".join(IMG_EXTENSIONS)}}})')
    return [ImageRecord(image_id, 'missing', reason)
            for image_id in error.missing_ids]


def _error_text(name: str, error: Exception) -> str:
    text = f'{type(error).__name__}: {error}'
    return text if str(error).startswith(name) else f'{name}: {text}'


def list_split_images(split: str, dataset) -> SplitListing:
    """List the image files of a (possibly wrapped, possibly lazily
    initialised) dataset without decoding them.

    A dataset whose annotated images are partly missing
    (:class:`~lmfloss_mm.datasets.DatasetLayoutError`) is listed anyway:
    the missing images become ``'missing'`` records and the found ones are
    checked.  Any other error while listing is kept in ``errors``.
    """
    listing = SplitListing(split)
    parts = unwrap_dataset(dataset)
    listing.dataset_type = ' + '.join(
        sorted({type(part).__name__ for part in parts}))
    seen = set()

    def add(path, spec):
        if (path, spec) not in seen:
            seen.add((path, spec))
            listing.images.append((path, spec))

    for part in parts:
        name = type(part).__name__
        loaders = find_image_loaders(getattr(part, 'pipeline', None))
        if not loaders:
            listing.notes.append(
                f'{name} has no LoadImageFromFile or LoadEyePair in its '
                "pipeline: 'img_path' was checked with LoadImageFromFile's "
                'defaults (cv2, colour).')
        try:
            if hasattr(part, 'full_init'):
                part.full_init()
        except DatasetLayoutError as error:
            listing.num_samples = None
            if not getattr(error, 'missing_ids', None):
                listing.errors.append(_error_text(name, error))
                continue
            listing.missing += _missing_records(error)
            spec = loaders[0][1] if loaders else DecodeSpec()
            for path in (error.found_paths or {}).values():
                add(path, spec)
            listing.notes.append(
                f'{name} cannot be built while images are missing; its '
                'other images were checked.')
            continue
        except Exception as error:
            listing.errors.append(_error_text(name, error))
            listing.num_samples = None
            continue
        try:
            for index in range(len(part)):
                for path, spec in sample_images(part.get_data_info(index),
                                                loaders):
                    add(path, spec)
        except KeyError as error:
            listing.errors.append(f'{name}, sample {index}: '
                                  f'{error.args[0]}')
            listing.num_samples = None
            continue
        if listing.num_samples is not None:
            listing.num_samples += len(part)
        excluded = getattr(part, 'excluded_images', None)
        if excluded is not None and getattr(part, 'exclude_file', ''):
            listing.excluded += list(excluded)
            listing.exclude_files.append(part.exclude_file)
    return listing


def _check_task(task: ImageTask) -> ImageRecord:
    return check_image(*task)


def run_checks(tasks: Sequence[ImageTask],
               workers: int = 1,
               progress: bool = True) -> List[ImageRecord]:
    """Decode every ``(path, spec)`` task, in order.

    Args:
        tasks (Sequence[tuple[str, DecodeSpec]]): The files to check.
        workers (int): Processes; ``<= 1`` decodes in this process.
            Defaults to 1.
        progress (bool): Show MMEngine's progress bar (with ETA).
            Defaults to True.
    """
    return map_in_processes(_check_task, tasks, workers, progress)


def map_in_processes(func: Callable,
                     tasks: Sequence,
                     workers: int = 1,
                     progress: bool = True,
                     initializer: Optional[Callable] = None,
                     initargs: tuple = (),
                     max_chunk: int = 32) -> list:
    """``[func(task) for task in tasks]`` in ``workers`` processes, in
    order, with MMEngine's progress bar.

    Args:
        func (callable): A module-level function of one task.
        tasks (Sequence): The tasks.
        workers (int): Processes; ``<= 1`` runs in this process.
            Defaults to 1.
        progress (bool): Show the progress bar (with ETA). Defaults to True.
        initializer (callable, optional): Run with ``initargs`` once in
            every process (in this one when ``workers <= 1``) before the
            tasks. Defaults to None.
        initargs (tuple): Arguments of ``initializer``. Defaults to ``()``.
        max_chunk (int): Largest number of tasks sent to a process at once.
            Defaults to 32.
    """
    tasks = list(tasks)
    if workers <= 1 or len(tasks) < 2:
        if initializer is not None:
            initializer(*initargs)
        if progress and tasks:
            return track_progress(func, tasks, file=sys.stdout)
        return [func(task) for task in tasks]
    workers = min(workers, len(tasks))
    chunksize = max(1, min(max_chunk, len(tasks) // (8 * workers)))
    if progress:
        return track_parallel_progress(
            func, tasks, nproc=workers, initializer=initializer,
            initargs=initargs, chunksize=chunksize, file=sys.stdout)
    with multiprocessing.Pool(workers, initializer, initargs) as pool:
        return pool.map(func, tasks, chunksize)


@dataclass
class DataCheckReport:
    """Result of the pre-flight check.

    Attributes:
        listings (list[SplitListing]): The splits, in check order.
        records (dict[str, list[ImageRecord]]): Split -> one record per
            image file of the split (missing images included).
    """
    listings: List[SplitListing]
    records: Dict[str, List[ImageRecord]]

    @property
    def ok(self) -> bool:
        """No broken image and every split could be listed."""
        return not self.broken() and not any(
            listing.errors for listing in self.listings)

    def _grouped(self, keep) -> List[Tuple[ImageRecord, List[str]]]:
        """Records that ``keep`` accepts, each path once with its splits."""
        grouped: Dict[Tuple[str, str, str], Tuple[ImageRecord,
                                                  List[str]]] = {}
        for split, records in self.records.items():
            for record in records:
                if keep(record):
                    key = (record.path, record.status, record.reason)
                    grouped.setdefault(key, (record, []))[1].append(split)
        return list(grouped.values())

    def broken(self) -> List[Tuple[ImageRecord, List[str]]]:
        """Every broken image file with the splits it is in."""
        return self._grouped(lambda r: r.broken)

    def converted(self) -> List[Tuple[ImageRecord, List[str]]]:
        """Images the decoder converts (grey-scale, palette, alpha...)."""
        return self._grouped(lambda r: r.converted)

    def split_summary(self, listing: SplitListing) -> dict:
        """Counts, decoded sizes and stored modes of one split."""
        records = self.records.get(listing.split, [])
        decoded = [r for r in records if r.width]
        sizes = {}
        for axis in ('width', 'height'):
            values = [getattr(r, axis) for r in decoded]
            sizes[axis] = ([int(np.min(values)), int(np.median(values)),
                            int(np.max(values))] if values else [])
        return dict(
            split=listing.split,
            dataset=listing.dataset_type,
            samples=listing.num_samples,
            images=len(records),
            broken=sum(r.broken for r in records),
            by_status=count_by([r for r in records if r.broken], 'status'),
            excluded=len(listing.excluded),
            exclude_files=listing.exclude_files,
            converted=sum(r.converted for r in records),
            decoders=sorted({spec.describe() for _, spec in listing.images}),
            width=sizes['width'],
            height=sizes['height'],
            modes=count_by(decoded, 'mode'),
            errors=listing.errors,
            notes=listing.notes)

    def to_dict(self) -> dict:
        """Everything, JSON-serialisable (all records, no limits)."""
        return dict(
            ok=self.ok,
            splits=[self.split_summary(s) for s in self.listings],
            broken=[dict(r.to_dict(), splits=s) for r, s in self.broken()],
            converted=[dict(r.to_dict(), splits=s)
                       for r, s in self.converted()])

    def format(self, max_converted: int = MAX_LISTED_CONVERTED) -> str:
        """The human-readable report (every broken image is listed)."""
        lines = []
        broken = self.broken()
        n_files = len({r.path for rs in self.records.values() for r in rs})
        lines.append(f'Pre-flight data check: {len(self.listings)} split(s), '
                     f'{n_files} image file(s).')
        for listing in self.listings:
            for error in listing.errors:
                lines.append(f'ERROR [{listing.split}] cannot list the '
                             f'dataset: {error}')
        if broken:
            lines.append(f'\n{len(broken)} broken image file(s) (split, '
                         'problem, path: reason):')
            for record, splits in broken:
                lines.append(f'  {",".join(splits):<10} {record.status:<11} '
                             f'{record.path}: {record.reason}')
        converted = self.converted()
        if converted:
            lines.append(f'\n{len(converted)} image(s) that the loading '
                         'transform converts (not errors):')
            for record, splits in converted[:max_converted]:
                mode = MODE_NAMES.get(record.mode, record.mode)
                lines.append(f'  {",".join(splits):<10} {record.mode} '
                             f'({mode}) {record.path}')
            if len(converted) > max_converted:
                lines.append(f'  ... and {len(converted) - max_converted} '
                             'more (all are in the JSON report)')
        lines.append('\n' + self.format_summary())
        for listing in self.listings:
            for note in listing.notes:
                lines.append(f'Note [{listing.split}]: {note}')
            if listing.excluded:
                lines.append(
                    f'Note [{listing.split}]: {len(listing.excluded)} '
                    'image(s) left out by exclude_file '
                    f'{", ".join(listing.exclude_files)} (not checked).')
        problems = [f'{len(broken)} broken image file(s)'] if broken else []
        unlisted = [s.split for s in self.listings if s.errors]
        if unlisted:
            problems.append(f'split(s) {", ".join(unlisted)} could not be '
                            'listed (see ERROR above)')
        lines.append('\nResult: ' + ('FAILED: ' + '; '.join(problems) + '.'
                                     if problems else
                                     'OK, every image decodes.'))
        return '\n'.join(lines)

    def format_summary(self) -> str:
        """One Markdown table row per split."""
        header = ('| split | dataset | samples | images | broken | excluded '
                  '| converted | width min/median/max | height '
                  'min/median/max | stored modes | decoder |')
        rows = [header, '|' + '---|' * header.count(' | ') + '---|']
        for listing in self.listings:
            s = self.split_summary(listing)
            broken = str(s['broken'])
            if s['by_status']:
                broken += ' (' + ', '.join(
                    f'{k} {v}' for k, v in s['by_status'].items()) + ')'
            modes = ', '.join(f'{k} {v}' for k, v in s['modes'].items())
            rows.append(' '.join([
                '|', s['split'], '|', s['dataset'], '|',
                '?' if s['samples'] is None else str(s['samples']),
                '|', str(s['images']), '|', broken, '|', str(s['excluded']),
                '|', str(s['converted']), '|',
                '/'.join(map(str, s['width'])) or '-', '|',
                '/'.join(map(str, s['height'])) or '-', '|', modes or '-',
                '|', '; '.join(s['decoders']) or '-', '|'
            ]))
        return '\n'.join(rows)

    def exclude_entries(self) -> List[Tuple[str, str]]:
        """``(file name, why)`` of every broken image, for
        :func:`~lmfloss_mm.datasets.image_check.write_exclude_file`."""
        entries = []
        for record, splits in self.broken():
            name = (record.path.replace('\\', '/').rsplit('/', 1)[-1]
                    if record.status != 'missing' else record.path)
            entries.append((name, f'{",".join(splits)}: {record.status}: '
                            f'{record.path}: {record.reason}'))
        return entries

    def write_exclude(self, path: str, header: str = '') -> int:
        """Write the broken images as an exclusion list; returns how many."""
        entries = self.exclude_entries()
        write_exclude_file(path, entries, header)
        return len(entries)


def check_datasets(datasets: Mapping[str, object],
                   workers: int = 1,
                   progress: bool = True,
                   distributed: bool = False) -> DataCheckReport:
    """Decode every image of built datasets.

    Args:
        datasets (Mapping[str, Dataset]): Split name -> dataset (MMEngine
            wrappers are followed to the datasets they wrap).
        workers (int): Decoding processes (per rank). Defaults to 1.
        progress (bool): Show a progress bar. Defaults to True.
        distributed (bool): Each rank decodes its share of the files and
            all ranks get the full report. Defaults to False.

    Returns:
        DataCheckReport: The report (check ``.ok``).
    """
    listings = [list_split_images(split, dataset)
                for split, dataset in datasets.items()]
    tasks = list(dict.fromkeys(t for listing in listings
                               for t in listing.images))
    rank, world_size = get_dist_info() if distributed else (0, 1)
    mine = run_checks(tasks[rank::world_size], workers,
                      progress and rank == 0)
    if world_size > 1:
        shares = all_gather_object(mine)
        checked = [shares[i % world_size][i // world_size]
                   for i in range(len(tasks))]
    else:
        checked = mine
    by_task = dict(zip(tasks, checked))
    records = {
        listing.split:
        listing.missing + [by_task[task] for task in listing.images]
        for listing in listings
    }
    return DataCheckReport(listings, records)


def _listing_cfg(dataset_cfg):
    """A copy of a dataset config with ``lazy_init=True`` on every MMEngine
    dataset and wrapper in it, so building it reads no annotation, and
    without ``cache_images`` (which would decode while listing) and
    ``image_cache`` (the source images are listed)."""
    from mmpretrain.registry import DATASETS
    cfg = copy.deepcopy(dataset_cfg)
    nodes = [cfg]
    while nodes:
        node = nodes.pop()
        if not isinstance(node, dict):
            continue
        cls = node.get('type')
        if isinstance(cls, str):
            cls = DATASETS.get(cls)
        if isinstance(cls, type) and issubclass(cls,
                                                (BaseDataset, ) + _WRAPPERS):
            node['lazy_init'] = True
        if node.get('cache_images'):
            node['cache_images'] = False
        node.pop('image_cache', None)
        if isinstance(node.get('dataset'), dict):
            nodes.append(node['dataset'])
        nodes += list(node.get('datasets') or [])
    return cfg


def check_config(cfg,
                 splits: Sequence[str] = SPLIT_NAMES,
                 workers: int = 1,
                 progress: bool = True,
                 logger=print) -> DataCheckReport:
    """Build ``<split>_dataloader.dataset`` of a config for each split and
    decode every image it lists.

    Datasets are built with their pipelines (to read the loading
    transform's settings; no transform is applied) and ``lazy_init``, then
    initialised one by one, so that a split with missing images is still
    listed.

    Args:
        cfg (mmengine.Config): The config (default scope already set).
        splits (Sequence[str]): Splits to check. Defaults to
            ``('train', 'val', 'test')``.
        workers (int): Decoding processes. Defaults to 1.
        progress (bool): Show a progress bar. Defaults to True.
        logger (callable): Receives one-line messages (skipped splits).

    Returns:
        DataCheckReport: The report.
    """
    from mmpretrain.registry import DATASETS
    datasets: Dict[str, Optional[object]] = {}
    listings_failed: List[SplitListing] = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader') or {}
        dataset_cfg = loader.get('dataset')
        if not dataset_cfg:
            logger(f'{split}: the config has no {split}_dataloader.dataset, '
                   'skipped.')
            continue
        try:
            datasets[split] = DATASETS.build(_listing_cfg(dataset_cfg))
        except Exception as error:
            listings_failed.append(
                SplitListing(split, str(dataset_cfg.get('type', '?')),
                             num_samples=None,
                             errors=[_error_text('', error)]))
    if not datasets and not listings_failed:
        raise ValueError(f'The config has no dataset for the splits '
                         f'{list(splits)}.')
    report = check_datasets(datasets, workers, progress)
    report.listings += listings_failed
    for listing in listings_failed:
        report.records[listing.split] = []
    order = {split: i for i, split in enumerate(splits)}
    report.listings.sort(key=lambda listing: order[listing.split])
    return report
