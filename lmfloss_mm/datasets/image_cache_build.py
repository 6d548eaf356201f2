"""Building the image caches of a config (``tools/prepare_image_cache.py``).

:func:`cache_tasks_of_config` builds the ``train``/``val``/``test``
datasets of a config (annotations and file lists only, without their
``image_cache``) and groups their images by cache folder;
:func:`build_image_cache` then brings one folder up to date: it re-uses
every stored image whose source, transforms and settings are unchanged,
runs the cached transforms on the others in parallel processes (MMEngine's
progress bar), writes each file atomically and the manifest last.  While
it changes a cache, the folder has no manifest, so that datasets refuse it
instead of mixing old and new images; a lock file keeps two builders out
of one folder.  See :mod:`.image_cache` for the format.
"""
import contextlib
import json
import os
import os.path as osp
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from lmfloss_mm.fileio import write_bytes_atomic, write_text_atomic
from .data_check import _listing_cfg, map_in_processes
from .image_cache import (FORMAT_VERSION, MANIFEST_NAME, ImageCache,
                          ImageCacheError, annotation_files,
                          cached_transforms, encode_array, encode_results,
                          entry_problem, environment, format_problems,
                          sha256_of, shrink_to_short_side, source_key,
                          source_stat)
from .labels import unwrap_dataset
from .splits import SPLIT_NAMES

#: Manifest reason of an image that is (re)written.
NOT_CACHED = 'not in the cache'


@dataclass
class CacheTask:
    """The images one cache folder must hold.

    Attributes:
        cache (ImageCache): The folder and its options.
        transforms (list): The transforms the cache replaces.
        data_root (str): The data root of the datasets (manifest keys are
            relative to it).
        sources (list[str]): Source image files, each once.
        annotation_files (list[str]): The annotation files read.
        splits (list[str]): The config splits that use the folder.
    """
    cache: ImageCache
    transforms: list
    data_root: str
    sources: List[str] = field(default_factory=list)
    annotation_files: List[str] = field(default_factory=list)
    splits: List[str] = field(default_factory=list)


@dataclass
class BuildReport:
    """What :func:`build_image_cache` found and did.

    Attributes:
        root (str): The cache folder.
        images (int): Images the task lists.
        reused (int): Stored images kept as they were.
        written (int): Images (re)encoded in this call.
        stale (dict[str, list[str]]): Reason -> images that were (or, with
            ``check_only``, would be) re-encoded.
        notes (list[str]): Why the cache as a whole was out of date
            (missing manifest, other settings, changed annotation file).
        failed (list[tuple[str, str]]): ``(source, error)`` of the images
            that could not be cached (then no manifest is written).
        seconds (float): Wall time.
    """
    root: str
    images: int = 0
    reused: int = 0
    written: int = 0
    stale: Dict[str, List[str]] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    failed: List[Tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def up_to_date(self) -> bool:
        return not (self.stale or self.notes or self.failed)

    def format(self) -> str:
        lines = [f'{self.root}: {self.images} images, {self.reused} '
                 f're-used, {self.written} written in {self.seconds:.1f} s']
        lines += [f'  {note}' for note in self.notes]
        if self.stale:
            lines.append(format_problems(self.stale))
        for source, error in self.failed:
            lines.append(f'  FAILED {source}: {error}')
        return '\n'.join(lines)


# --------------------------------------------------------------- one image
def store_image(source: str, target: str, transforms: Sequence,
                short_side: Optional[int] = None,
                file_format: str = 'png') -> Tuple[dict, int]:
    """Run ``transforms`` on the image file ``source`` (then, with
    ``short_side``, shrink it) and store the image losslessly at ``target``
    (atomically).

    Returns:
        tuple[dict, int]: The results without ``img_path``, with the stored
        array as ``img``, and the size of the stored file.

    Raises:
        Exception: Whatever the transforms raise for a broken image, or a
            ``ValueError`` if one returns None or the array cannot be
            stored in ``file_format``.
    """
    results = dict(img_path=source)
    for transform in transforms:
        results = transform(results)
        if results is None:
            raise ValueError(f'{type(transform).__name__} returned None '
                             '(an unreadable image).')
    if short_side is not None:
        image = shrink_to_short_side(results['img'], short_side)
        results.update(img=image, img_shape=image.shape[:2],
                       ori_shape=image.shape[:2])
    results.pop('img_path')
    data = encode_array(results['img'], file_format)
    # synced once for all images before the manifest names them
    write_bytes_atomic(target, data, sync=False)
    return results, len(data)


def prepare_entry(source: str, key: str, cache: ImageCache,
                  transforms: Sequence, record_hash: bool = False) -> dict:
    """Store one source image in ``cache`` (:func:`store_image`) and return
    its manifest entry.

    Raises:
        ImageCacheError: If the source changed while it was read.
        Exception: See :func:`store_image`.
    """
    before = source_stat(source)
    file = cache.cache_file(key)
    results, file_size = store_image(source, osp.join(cache.root, file),
                                     transforms, cache.short_side,
                                     cache.file_format)
    image = results.pop('img')
    stored = encode_results(results)
    if source_stat(source) != before:
        raise ImageCacheError(f'{source} changed while it was cached; run '
                              'the build again.')
    if record_hash:
        before['sha256'] = sha256_of(source)
    return dict(file=file, file_size=file_size, source=before,
                shape=list(image.shape), dtype=str(image.dtype),
                results=stored)


_WORKER: dict = {}


def _init_worker(cache: ImageCache, transforms: list,
                 record_hash: bool) -> None:
    import cv2
    cv2.setNumThreads(1)  # one image per process
    _WORKER.update(cache=cache, transforms=transforms,
                   record_hash=record_hash)


def _cache_one(job: Tuple[str, str]) -> Tuple[str, Optional[dict], str]:
    key, source = job
    try:
        return key, prepare_entry(source, key, _WORKER['cache'],
                                  _WORKER['transforms'],
                                  _WORKER['record_hash']), ''
    except Exception as error:
        return key, None, f'{type(error).__name__}: {error}'


# ------------------------------------------------------------- one folder
@contextlib.contextmanager
def build_lock(root: str) -> Iterator[None]:
    """Hold ``<root>/.lock`` (POSIX ``flock``) for the duration.

    Raises:
        ImageCacheError: If another process holds it.
    """
    os.makedirs(root, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no flock (Windows): no protection
        yield
        return
    with open(osp.join(root, '.lock'), 'w') as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ImageCacheError(
                f'Another process is building the image cache in {root}. '
                'Wait until it has finished, then run this again.')
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _previous_manifest(cache: ImageCache, settings: dict,
                       notes: List[str]) -> dict:
    """The existing manifest if its images can be re-used, else ``{}``
    (and the reason in ``notes``)."""
    if not osp.isfile(cache.manifest_path):
        notes.append(f'no {MANIFEST_NAME} (never built, or a build did not '
                     'finish)')
        return {}
    try:
        manifest = cache.read_manifest()
    except ImageCacheError as error:
        notes.append(str(error))
        return {}
    if manifest['settings'] != settings:
        notes.append('made by other transforms or settings: every image is '
                     're-encoded')
        return {}
    return manifest


def _source_path(key: str, data_root: str) -> str:
    return key if osp.isabs(key) else osp.join(data_root, key)


def _still_fresh(cache: ImageCache, entries: dict, data_root: str,
                 skip: set) -> dict:
    """Entries of earlier builds (not in ``skip``) whose source and stored
    file are unchanged."""
    return {
        key: entry
        for key, entry in entries.items() if key not in skip
        and entry_problem(cache.root, entry, _source_path(key, data_root),
                          cache.cache_file(key)) is None
    }


def build_image_cache(task: CacheTask,
                      workers: int = 1,
                      progress: bool = True,
                      force: bool = False,
                      record_hash: bool = False,
                      check_only: bool = False) -> BuildReport:
    """Bring one cache folder up to date (or, ``check_only``, report what
    is stale).

    Stored images are re-used when their manifest entry matches the source
    (size and modification time; a changed modification time with the
    recorded sha256 unchanged also counts) and the stored file.  Images of
    earlier builds that ``task`` does not list are kept while they are
    fresh (e.g. another split's).

    Args:
        task (CacheTask): The folder and its images.
        workers (int): Encoding processes. Defaults to 1.
        progress (bool): Show MMEngine's progress bar. Defaults to True.
        force (bool): Re-encode every image. Defaults to False.
        record_hash (bool): Record the sha256 of every source (for
            ``verify='hash'`` and for copies that change modification
            times). Defaults to False.
        check_only (bool): Only report. Defaults to False.

    Returns:
        BuildReport: The report; with ``failed`` images no manifest is
        written and the cache stays unusable.
    """
    cache, start = task.cache, time.perf_counter()
    report = BuildReport(cache.root, images=len(task.sources))
    stale: Dict[str, List[str]] = defaultdict(list)
    lock = (contextlib.nullcontext() if check_only else build_lock(
        cache.root))
    with lock:
        settings = cache.settings(task.transforms)
        previous = _previous_manifest(cache, settings, report.notes)
        if force and previous:
            report.notes.append('--force: every image is re-encoded')
            previous = {}
        old = previous.get('images', {})
        entries, jobs = {}, []
        for source in task.sources:
            key = source_key(source, task.data_root)
            entry, problem = _reusable(cache, key, old.get(key), source,
                                       record_hash)
            if problem:
                stale[problem].append(key)
                jobs.append((key, source))
            else:
                entries[key] = entry
        annotations = {
            source_key(path, task.data_root): sha256_of(path)
            for path in task.annotation_files
        }
        old_annotations = previous.get('annotation_files', {})
        changed = [k for k, v in annotations.items()
                   if old_annotations.get(k) != v]
        if previous and changed:
            report.notes.append(f'annotation file(s) changed: {changed}')
        listed = {key for key, _ in jobs} | set(entries)
        entries.update(_still_fresh(cache, old, task.data_root, listed))
        for key, digest in old_annotations.items():
            path = _source_path(key, task.data_root)
            if (key not in annotations and osp.isfile(path)
                    and sha256_of(path) == digest):
                annotations[key] = digest
        report.stale = dict(stale)
        report.reused = len(task.sources) - len(jobs)
        unchanged = (previous and not jobs and entries == old
                     and annotations == old_annotations)
        if check_only or unchanged:
            report.seconds = time.perf_counter() - start
            return report
        if jobs and osp.exists(cache.manifest_path):
            os.remove(cache.manifest_path)  # no manifest while it changes
        done = map_in_processes(
            _cache_one, jobs, workers, progress, initializer=_init_worker,
            initargs=(cache, task.transforms, record_hash), max_chunk=16)
        for key, entry, error in done:
            if error:
                report.failed.append((_source_path(key, task.data_root),
                                      error))
            else:
                entries[key] = entry
        report.written = len(jobs) - len(report.failed)
        if not report.failed:
            _write_manifest(cache, settings, task.data_root, annotations,
                            entries)
    report.seconds = time.perf_counter() - start
    return report


def _reusable(cache: ImageCache, key: str, entry: Optional[dict],
              source: str,
              record_hash: bool) -> Tuple[Optional[dict], Optional[str]]:
    """``(entry, None)`` if the stored image of ``source`` can be re-used
    (refreshed: new modification time, added sha256), else
    ``(None, reason)``."""
    if entry is None:
        return None, NOT_CACHED
    expected = cache.cache_file(key)
    problem = entry_problem(cache.root, entry, source, expected)
    recorded = entry['source'].get('sha256')
    if (problem and problem.startswith('source image changed')
            and recorded and source_stat(source)['size']
            == entry['source']['size'] and sha256_of(source) == recorded):
        entry = dict(entry, source=dict(source_stat(source),
                                        sha256=recorded))
        problem = entry_problem(cache.root, entry, source, expected)
    if problem:
        return None, problem
    if record_hash and not recorded:
        entry = dict(entry, source=dict(entry['source'],
                                        sha256=sha256_of(source)))
    return entry, None


def _write_manifest(cache: ImageCache, settings: dict, data_root: str,
                    annotations: dict, entries: dict) -> None:
    manifest = dict(
        format_version=FORMAT_VERSION,
        settings=settings,
        environment=environment(),
        data_root=osp.abspath(data_root),
        annotation_files=dict(sorted(annotations.items())),
        images=dict(sorted(entries.items())))
    if hasattr(os, 'sync'):
        os.sync()  # the images are on disk before the manifest names them
    write_text_atomic(cache.manifest_path, manifest_text(manifest))


def manifest_text(manifest: dict) -> str:
    """The manifest as JSON: indented, with one line per image."""
    head = {k: v for k, v in manifest.items() if k != 'images'}
    lines = [
        f'    {json.dumps(key)}: {json.dumps(entry, separators=(",", ":"))}'
        for key, entry in manifest['images'].items()
    ]
    return (json.dumps(head, indent=2)[:-2] + ',\n  "images": {\n' +
            ',\n'.join(lines) + '\n  }\n}\n')


# ------------------------------------------------------------------ config
def _leaf_datasets(node) -> List[dict]:
    """The dataset configs under MMEngine wrappers, in the order of
    :func:`~lmfloss_mm.datasets.labels.unwrap_dataset`."""
    if isinstance(node.get('dataset'), dict):
        return _leaf_datasets(node['dataset'])
    if node.get('datasets'):
        return [leaf for d in node['datasets'] for leaf in _leaf_datasets(d)]
    return [node]


def cache_tasks_of_config(cfg,
                          splits: Sequence[str] = SPLIT_NAMES,
                          default_option: Optional[dict] = None,
                          logger=print) -> List[CacheTask]:
    """The cache folders of a config's datasets and their images.

    Args:
        cfg (mmengine.Config): The config (default scope already set).
        splits (Sequence[str]): The splits whose datasets are cached.
            Defaults to ``('train', 'val', 'test')``.
        default_option (dict, optional): ``image_cache`` for the datasets
            of the config without one (e.g. from the command line; a
            relative ``root`` is relative to the data root). Defaults to
            None (those datasets are skipped).
        logger (callable): Receives one-line messages (skipped splits).

    Returns:
        list[CacheTask]: One per cache folder, in first-use order.

    Raises:
        ValueError: A dataset sets ``image_cache`` and ``default_option``
            is given, or datasets that share a folder differ in transforms,
            settings or data root.
    """
    from mmpretrain.registry import DATASETS

    from .base import SplitImageDataset
    tasks: Dict[str, CacheTask] = {}
    for split in splits:
        dataset_cfg = (cfg.get(f'{split}_dataloader') or {}).get('dataset')
        if not dataset_cfg:
            logger(f'{split}: the config has no {split}_dataloader.dataset, '
                   'skipped.')
            continue
        leaves = _leaf_datasets(dataset_cfg)
        if default_option and any(leaf.get('image_cache') for leaf in leaves):
            raise ValueError(
                f'{split}_dataloader.dataset sets image_cache, and '
                '--root/--short-side/--file-format are only for datasets '
                'without one. Change it with --cfg-options instead.')
        options = [leaf.get('image_cache') or default_option
                   for leaf in leaves]
        if not any(options):
            logger(f'{split}: no image_cache in {split}_dataloader.dataset '
                   'and no --root, skipped.')
            continue
        parts = unwrap_dataset(DATASETS.build(_listing_cfg(dataset_cfg)))
        for part, option in zip(parts, options):
            if not option:
                continue
            if not isinstance(part, SplitImageDataset):
                raise ValueError(
                    f'{split}: {type(part).__name__} has no image_cache '
                    'option (the datasets of lmfloss_mm have it).')
            part.full_init()
            cache = ImageCache.from_option(option, part.data_root)
            transforms = cached_transforms(part.pipeline, cache.short_side)
            root = osp.abspath(cache.root)
            task = tasks.setdefault(
                root, CacheTask(cache, transforms, part.data_root))
            _check_same_cache(task, cache, transforms, part.data_root, split)
            seen = set(task.sources)
            for index in range(len(part)):
                path = part.get_data_info(index)['img_path']
                if path not in seen:
                    seen.add(path)
                    task.sources.append(path)
            for path in annotation_files(part.annotation_source):
                if path not in task.annotation_files:
                    task.annotation_files.append(path)
            if split not in task.splits:
                task.splits.append(split)
    return list(tasks.values())


def _check_same_cache(task: CacheTask, cache: ImageCache, transforms: list,
                      data_root: str, split: str) -> None:
    if task.cache.settings(task.transforms) != cache.settings(transforms):
        raise ValueError(
            f'{split}: the image cache {cache.root} is also used by split(s) '
            f'{", ".join(task.splits)} with other transforms or settings; '
            'one folder holds one kind of cache. Give each its own root.')
    if osp.abspath(task.data_root) != osp.abspath(data_root):
        raise ValueError(
            f'{split}: the image cache {cache.root} is also used for data '
            f'root {task.data_root}; one folder serves one data root '
            f'(this dataset reads {data_root}). Give each its own root.')
