"""Base class of the medical datasets: annotations -> split -> image paths."""
import logging
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from mmpretrain.datasets import BaseDataset

from .image_cache import ImageCache
from .image_check import (ImageLoadError, broken_images, find_image_loaders,
                          format_records, image_paths, read_exclude_file)
from .splits import SPLIT_NAMES, check_ratios, resolve_split
from .utils import (AnnotationTable, DirectoryIndex, Sample, check_data_root,
                    list_some)


class SplitImageDataset(BaseDataset):
    """An image classification dataset read from its official annotation
    files and split by :mod:`lmfloss_mm.datasets.splits`.

    Subclasses implement :meth:`load_annotations` (annotation files only, no
    image access) and may refine :meth:`image_priority`,
    :meth:`image_aliases`, :meth:`select_samples`, :meth:`locate_images`
    (which gets the annotation table) and :meth:`make_data_list` (which
    gets the selected samples and their files).  Images are looked up
    recursively by id under ``data_prefix['img_path']`` (default: the data
    root), so any unpacking layout works; every listed image must exist.

    Labels are available without reading images: ``get_gt_labels()`` and
    ``get_cat_ids()`` read ``gt_label`` from the data list.

    ``dataset[i]`` is always sample ``i``: a sample whose image fails to load
    raises :class:`~lmfloss_mm.datasets.image_check.ImageLoadError` naming
    the file and the reason (missing, empty, truncated, undecodable...), and
    a pipeline that returns None (e.g. ``LoadImageFromFile(ignore_empty=
    True)`` on a broken file) is an error too, where MMEngine's
    ``BaseDataset`` would silently return another sample (``max_refetch``).

    Args:
        data_root (str): Root folder of the unpacked dataset.
        split (str): ``'train'``, ``'val'``, ``'test'`` (the grouped,
            stratified split) or ``'all'`` (every annotated image, no split
            file).  Subclasses may accept more (official held-out sets).
            Defaults to ``'train'``.
        ann_file (str): Annotation file; relative paths are relative to
            ``data_root``.  ``''`` locates it by its official name.
            Defaults to ``''``.
        split_file (str): Split CSV (``image_id,group,label,split``).  ``''``
            means ``<data_root>/lmfloss_splits/<dataset>_<ratios>_seed<seed>
            .csv`` (falling back to ``~/.cache/lmfloss_mm/splits/...`` if the
            data root is read-only), read if present, else computed and
            written.  An existing path is read and validated; a missing path
            is computed and written there.  Relative paths are relative to
            ``data_root``.  Only the ``train``/``val``/``test`` splits read
            it; giving it with another split is an error.  Defaults to
            ``''``.
        split_ratios (Sequence[float]): Train/val/test fractions used when
            the split is computed. Defaults to ``(0.7, 0.15, 0.15)``.
        split_seed (int): Seed used when the split is computed.
            Defaults to 0.
        pipeline (Sequence): Processing pipeline. Defaults to ``()``.
        exclude_file (str): Text file listing images to leave out, one file
            name or image id per line (``#`` starts a comment), e.g. written
            by ``tools/check_data.py --write-exclude``.  Images are left out
            after the split is made (the split does not change); how many
            per split is logged and kept in ``excluded_images``.  Relative
            paths are relative to ``data_root``.  ``''`` excludes nothing.
            Defaults to ``''``.
        cache_images (bool): Decode every image once, when the dataset is
            loaded, with the pipeline's first transform (which must be a
            ``LoadImageFromFile``), keep the decoded arrays with the
            annotations and run the rest of the pipeline on them in every
            epoch.  The samples are the same as without the cache; the
            memory is that of the decoded split (150 kB per 224 x 224 RGB
            image), held in MMEngine's serialized data list, which
            DataLoader workers share with the main process.  With
            ``image_cache``, the cached images are the ones kept.  Defaults
            to False.
        image_cache (dict, optional): Read the images from a cache prepared
            once by ``tools/prepare_image_cache.py`` (see
            :mod:`lmfloss_mm.datasets.image_cache` and
            ``docs/image_cache.md``): ``dict(root=...)`` stores the output
            of the pipeline's loader and of the ``Resize`` / ``ResizeEdge``
            / ``CenterCrop`` right after it, which the dataset then skips,
            and gives exactly the samples made without the cache;
            ``short_side=S`` stores the decoded images with their shorter
            side reduced to ``S`` (for random crops; not the same samples).
            Other keys: ``file_format`` (``'png'`` or ``'npy'``) and
            ``verify`` (``'stat'`` or ``'hash'``).  A relative ``root`` is
            relative to ``data_root``.  The cache is checked against the
            pipeline, the annotation file and every source image when the
            dataset loads; a missing, partial or stale cache is an
            :class:`~lmfloss_mm.datasets.image_cache.ImageCacheError`.
            Defaults to None (decode the source images).
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (e.g. ``data_prefix``, ``test_mode``, ``lazy_init``).
    """

    #: Prefix of the default split file name.
    DATASET_KEY = ''
    #: Accepted values of ``split``.
    SPLITS = SPLIT_NAMES + ('all', )
    #: Expected folder tree, printed in error messages.
    EXPECTED_TREE = ''
    #: Whether ``gt_label`` is a list of class indices.
    multi_label = False

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = '',
                 split_file: str = '',
                 split_ratios: Sequence[float] = (0.7, 0.15, 0.15),
                 split_seed: int = 0,
                 pipeline: Sequence = (),
                 cache_images: bool = False,
                 exclude_file: str = '',
                 image_cache: Optional[dict] = None,
                 **kwargs):
        if split not in self.SPLITS:
            raise ValueError(
                f'{type(self).__name__}: unknown split {split!r}; choose one '
                f'of {", ".join(map(repr, self.SPLITS))}.')
        if split_file and split not in SPLIT_NAMES:
            raise ValueError(
                f'{type(self).__name__}: split_file={split_file!r} is not '
                f'used by split={split!r}, which is not made from a split '
                f'file (only {", ".join(map(repr, SPLIT_NAMES))} are). '
                "Remove split_file, or choose split='train', 'val' or "
                "'test'.")
        self._check_fixed_classes(kwargs.get('metainfo'),
                                  kwargs.get('classes'))
        self.split = split
        self.split_file = split_file
        self.split_ratios = check_ratios(split_ratios)
        self.split_seed = int(split_seed)
        self.exclude_file = exclude_file
        #: Image ids of this split left out by ``exclude_file``.
        self.excluded_images: List[str] = []
        self.cache_images = bool(cache_images)
        #: The on-disk image cache (``image_cache``), or None.
        self.image_cache = ImageCache.from_option(image_cache, data_root)
        #: The annotation file(s) read (set by ``load_data_list``).
        self.annotation_source = ''
        #: The split file actually used (set by ``load_data_list``).
        self.split_file_used: Optional[str] = None
        self._index: Optional[DirectoryIndex] = None
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            pipeline=pipeline,
            **kwargs)

    def _check_fixed_classes(self, metainfo: Optional[dict],
                             classes) -> None:
        """Refuse ``classes=`` / ``metainfo['classes']`` that would rename
        the fixed classes of a dataset with ``METAINFO['classes']`` (its
        labels index those classes, so other names would mislabel them)."""
        fixed = self.METAINFO.get('classes')
        given = self._compat_classes(metainfo, classes).get('classes')
        if fixed is not None and given is not None and tuple(given) != tuple(
                fixed):
            raise ValueError(
                f'{type(self).__name__} has the fixed classes '
                f'{", ".join(fixed)} (its labels index them), but '
                f'classes={tuple(given)} was given. Remove classes= (and '
                "metainfo['classes']), or use CSVImageDataset for an "
                'annotation file with other classes.')

    # ------------------------------------------------------------------ hooks
    @property
    def dataset_name(self) -> str:
        return type(self).__name__

    @property
    def split_key(self) -> str:
        """Prefix of the default split file name (variants add suffixes)."""
        return self.DATASET_KEY

    def load_annotations(self) -> AnnotationTable:
        """Parse the annotation files (without touching images)."""
        raise NotImplementedError

    def image_priority(self, relpath: str) -> int:
        """Rank of a file when an image id exists in several folders (lower
        wins; ties: alphabetical path)."""
        return 0

    def image_aliases(self, image_id: str) -> List[str]:
        """Other file stems to try when ``image_id`` is not found."""
        return []

    def missing_images_hint(self) -> str:
        """Extra advice appended to the missing-images error."""
        return ''

    def locate_images(self, index: DirectoryIndex, table: AnnotationTable,
                      samples: List[Sample]) -> Dict[str, str]:
        """Image id -> file of every sample of ``table`` in ``samples``,
        looked up in ``index`` (the listing of the image root) by id, with
        :meth:`image_priority` and :meth:`image_aliases`."""
        return index.locate([s.image_id for s in samples],
                            self.dataset_name,
                            priority=self.image_priority,
                            aliases=self.image_aliases,
                            hint=self.missing_images_hint())

    # ------------------------------------------------------------- machinery
    def directory_index(self) -> DirectoryIndex:
        """Recursive listing of ``data_root`` (cached while loading)."""
        if self._index is None:
            check_data_root(self.data_root, self.dataset_name,
                            self.EXPECTED_TREE)
            self._index = DirectoryIndex(self.data_root)
        return self._index

    def resolve_path(self, path: str) -> str:
        """Make a user-given path relative to ``data_root`` absolute."""
        if path and not osp.isabs(path) and self.data_root:
            return osp.join(self.data_root, path)
        return path

    def split_assignment(self, table: AnnotationTable) -> Dict[str, str]:
        """Image id -> split for ``table`` (computes or reads the split
        file, see ``split_file``)."""
        assignment, path = resolve_split(
            table,
            dataset_key=self.split_key,
            data_root=self.data_root,
            split_file=self.split_file,
            ratios=self.split_ratios,
            seed=self.split_seed,
            dataset_name=self.dataset_name)
        self.split_file_used = path
        return assignment

    def select_samples(self, table: AnnotationTable) -> List[Sample]:
        """The samples of ``self.split``."""
        if self.split == 'all':
            return list(table.samples)
        assignment = self.split_assignment(table)
        samples = [
            s for s in table.samples if assignment[s.image_id] == self.split
        ]
        if not samples:
            raise ValueError(
                f'{self.dataset_name}: split {self.split!r} has no image in '
                f'{self.split_file_used} (split_ratios={self.split_ratios}).'
                ' Use other ratios or another split file.')
        return samples

    def make_data_list(self, samples: List[Sample],
                       paths: Dict[str, str]) -> List[dict]:
        """The data list of the selected ``samples`` (after
        ``exclude_file``), whose image ids ``paths`` maps to their files.

        Returns:
            list[dict]: ``dict(img_path=..., gt_label=...)`` per sample,
            where ``gt_label`` is a class index (a list of indices for
            multi-label annotations).
        """
        return [
            dict(
                img_path=paths[s.image_id],
                gt_label=list(s.label) if self.multi_label else int(s.label))
            for s in samples
        ]

    def load_data_list(self) -> List[dict]:
        """Read annotations, select the split, locate the images and make
        the data list (:meth:`make_data_list`), then attach the image cache
        or decode the images when asked."""
        try:
            index = self.directory_index()
            table = self.load_annotations()
            table.log_exclusions(self.dataset_name)
            self.annotation_source = table.source
            samples = self.select_samples(table)
            if not samples:
                raise ValueError(
                    f'{self.dataset_name}: no annotated image for split '
                    f'{self.split!r} in {table.source}.')
            samples = self.apply_exclude_file(table, samples)
            img_root = self.img_prefix or self.data_root
            if osp.normpath(img_root) != osp.normpath(self.data_root):
                check_data_root(img_root, self.dataset_name,
                                self.EXPECTED_TREE)
                index = DirectoryIndex(img_root)
            paths = self.locate_images(index, table, samples)
        finally:
            self._index = None  # do not keep (or pickle) the listing
        data_list = self.make_data_list(samples, paths)
        if self.image_cache is not None:
            self.image_cache.attach(data_list, self.pipeline, self.data_root,
                                    table.source, self.dataset_name)
        if self.cache_images:
            self.decode_images(data_list)
        return data_list

    # ----------------------------------------------------------- image cache
    def image_loader(self) -> LoadImageFromFile:
        """The pipeline's first transform, which ``cache_images`` runs once
        per image."""
        transforms = self.pipeline.transforms
        if not transforms or not isinstance(transforms[0], LoadImageFromFile):
            first = type(transforms[0]).__name__ if transforms else 'nothing'
            raise ValueError(
                f'{self.dataset_name}: cache_images=True decodes the images '
                'with the first transform of the pipeline, which must be a '
                f'LoadImageFromFile, but the pipeline starts with {first}. '
                'Put LoadImageFromFile first or set cache_images=False.')
        return transforms[0]

    def decode_images(self, data_list: List[dict]) -> None:
        """Add the decoded image (``img``, ``img_shape``, ``ori_shape``) to
        every entry of ``data_list``, decoding in threads (with
        ``image_cache``: replace every entry by the stored results of the
        cached transforms)."""
        if self.image_cache is not None:
            with ThreadPoolExecutor(min(16, os.cpu_count() or 1)) as pool:
                data_list[:] = pool.map(self.image_cache.load, data_list)
            return
        loader = self.image_loader()

        def decode(info: dict) -> dict:
            try:
                results = loader(dict(img_path=info['img_path']))
            except Exception as error:
                raise ImageLoadError(
                    f'{self.dataset_name}: cannot decode {info["img_path"]} '
                    f'for the image cache ({error!r}). Find every broken '
                    'image with `python tools/check_data.py CONFIG`.'
                ) from error
            if results is None:  # LoadImageFromFile(ignore_empty=True)
                raise ImageLoadError(
                    f'{self.dataset_name}: cannot read {info["img_path"]} '
                    'for the image cache.')
            return {k: results[k] for k in ('img', 'img_shape', 'ori_shape')}

        with ThreadPoolExecutor(min(16, os.cpu_count() or 1)) as pool:
            for info, decoded in zip(data_list, pool.map(decode, data_list)):
                info.update(decoded)

    def stored_transforms(self) -> int:
        """How many leading transforms of the pipeline the stored results
        replace: the cached ones with ``image_cache``, else the loader with
        ``cache_images``, else none."""
        if self.image_cache is not None:
            return self.image_cache.num_transforms
        return int(self.cache_images)

    def prepare_data(self, idx: int):
        """The sample ``idx`` through the pipeline (with ``cache_images`` or
        ``image_cache``, from its stored results through the pipeline's
        other transforms)."""
        stored = self.stored_transforms()
        if not stored:
            return super().prepare_data(idx)
        results = self.get_data_info(idx)  # a fresh copy of the cached image
        if self.image_cache is not None and not self.cache_images:
            results = self.image_cache.load(results)
        for transform in self.pipeline.transforms[stored:]:
            results = transform(results)
            if results is None:
                return None
        return results

    # ------------------------------------------------- exclusion, load errors
    def apply_exclude_file(self, table: AnnotationTable,
                           samples: List[Sample]) -> List[Sample]:
        """Leave out the samples listed in ``exclude_file`` (matched by
        image id or one of its :meth:`image_aliases`) and log how many."""
        self.excluded_images = []
        if not self.exclude_file:
            return samples
        path = self.resolve_path(self.exclude_file)
        listed = read_exclude_file(path)
        wanted = set(listed)

        def names(image_id):
            return [image_id] + self.image_aliases(image_id)

        kept = []
        for sample in samples:
            if wanted.intersection(names(sample.image_id)):
                self.excluded_images.append(sample.image_id)
            else:
                kept.append(sample)
        annotated = {
            name
            for image_id in table.image_ids +
            [i for ids in table.excluded.values() for i in ids]
            for name in names(image_id)
        }
        unknown = [i for i in listed if i not in annotated]
        print_log(
            f'{self.dataset_name} (split {self.split!r}): exclude_file '
            f'{path} lists {len(listed)} image(s); left out '
            f'{len(self.excluded_images)} of this split'
            + (f': {list_some(self.excluded_images)}'
               if self.excluded_images else '') +
            (f'; {len(unknown)} are not in the annotations '
             f'({table.source}): {list_some(unknown)}' if unknown else ''),
            logger='current',
            level=logging.WARNING
            if self.excluded_images or unknown else logging.INFO)
        if not kept:
            raise ValueError(
                f'{self.dataset_name}: exclude_file {path} leaves out every '
                f'image of split {self.split!r}.')
        return kept

    def __getitem__(self, idx: int) -> dict:
        """Sample ``idx`` after the pipeline, never another sample.

        Raises:
            ImageLoadError: If the pipeline fails or returns None and an
                image of the sample is broken; the message names each file
                and what is wrong with it.
            RuntimeError: If the pipeline returns None although the images
                decode (a transform dropped the sample).
        """
        if not self._fully_initialized:
            self.full_init()
        try:
            data = self.prepare_data(idx)
        except Exception as error:
            broken = self._broken_images(idx)
            if broken:
                raise ImageLoadError(self._load_error(idx, broken)) from error
            if hasattr(error, 'add_note'):  # Python >= 3.11
                error.add_note(f'{self._describe_sample(idx)}: the pipeline '
                               'failed, but its image files decode.')
            raise
        if data is None:
            broken = self._broken_images(idx)
            if broken:
                raise ImageLoadError(self._load_error(idx, broken))
            raise RuntimeError(
                f'{self._describe_sample(idx)}: the pipeline returned None '
                'although its image files decode. A transform dropped the '
                'sample; this dataset never replaces a sample by another '
                'one, so remove that transform or its skipping option.')
        return data

    def _describe_sample(self, idx: int) -> str:
        paths = image_paths(self.get_data_info(idx),
                            find_image_loaders(self.pipeline))
        return (f'{self.dataset_name} (split {self.split!r}), sample {idx} '
                f'({paths})')

    def _broken_images(self, idx: int):
        try:
            return broken_images(self.get_data_info(idx),
                                 find_image_loaders(self.pipeline))
        except KeyError:  # the pipeline's own error says it better
            return []

    def _load_error(self, idx: int, broken) -> str:
        return (f'{self.dataset_name} (split {self.split!r}): sample {idx} '
                f'cannot be loaded:\n{format_records(broken)}\nFind every '
                'broken image of a config at once with '
                '`python tools/check_data.py CONFIG`.')

    def get_gt_labels(self) -> np.ndarray:
        """All ground-truth labels without reading images.

        Returns:
            np.ndarray: int64 class indices, or, for multi-label data, an
            object array of index lists.
        """
        labels = [self.get_data_info(i)['gt_label'] for i in range(len(self))]
        if self.multi_label:
            out = np.empty(len(labels), dtype=object)
            for i, label in enumerate(labels):  # no broadcasting to 2-D
                out[i] = list(label)
            return out
        return np.asarray(labels, dtype=np.int64)

    def get_cat_ids(self, idx: int) -> List[int]:
        """Class indices of one image (one index unless multi-label)."""
        label = self.get_data_info(idx)['gt_label']
        return list(label) if self.multi_label else [int(label)]

    def extra_repr(self) -> List[str]:
        body = [
            f'Root of dataset: \t{self.data_root}',
            f'Split: \t{self.split}',
        ]
        if self.ann_file:
            body.append(f'Annotation file: \t{osp.normpath(self.ann_file)}')
        if self.split_file_used:
            body.append(f'Split file: \t{self.split_file_used}')
        if self.exclude_file:
            body.append(f'Excluded images: \t{len(self.excluded_images)} '
                        f'({self.exclude_file})')
        if self.image_cache is not None:
            body.append(f'Image cache: \t{self.image_cache.describe()}')
        if self.cache_images:
            body.append('Images: \tdecoded once, kept in memory')
        return body
