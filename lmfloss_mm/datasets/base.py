"""Base class of the medical datasets: annotations -> split -> image paths."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmpretrain.datasets import BaseDataset

from .splits import SPLIT_NAMES, check_ratios, resolve_split
from .utils import (AnnotationTable, DirectoryIndex, Sample, check_data_root)


class SplitImageDataset(BaseDataset):
    """An image classification dataset read from its official annotation
    files and split by :mod:`lmfloss_mm.datasets.splits`.

    Subclasses implement :meth:`load_annotations` (annotation files only, no
    image access) and may refine :meth:`image_priority`,
    :meth:`image_aliases` and :meth:`select_samples`.  Images are looked up
    recursively by id under ``data_prefix['img_path']`` (default: the data
    root), so any unpacking layout works; every listed image must exist.

    Labels are available without reading images: ``get_gt_labels()`` and
    ``get_cat_ids()`` read ``gt_label`` from the data list.

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
            ``data_root``.  Defaults to ``''``.
        split_ratios (Sequence[float]): Train/val/test fractions used when
            the split is computed. Defaults to ``(0.7, 0.15, 0.15)``.
        split_seed (int): Seed used when the split is computed.
            Defaults to 0.
        pipeline (Sequence): Processing pipeline. Defaults to ``()``.
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
                 **kwargs):
        if split not in self.SPLITS:
            raise ValueError(
                f'{type(self).__name__}: unknown split {split!r}; choose one '
                f'of {", ".join(map(repr, self.SPLITS))}.')
        self.split = split
        self.split_file = split_file
        self.split_ratios = check_ratios(split_ratios)
        self.split_seed = int(split_seed)
        #: The split file actually used (set by ``load_data_list``).
        self.split_file_used: Optional[str] = None
        self._index: Optional[DirectoryIndex] = None
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            pipeline=pipeline,
            **kwargs)

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

    def load_data_list(self) -> List[dict]:
        """Read annotations, select the split and locate the images.

        Returns:
            list[dict]: ``dict(img_path=..., gt_label=...)`` per image, where
            ``gt_label`` is a class index (a list of indices for multi-label
            annotations).
        """
        try:
            index = self.directory_index()
            table = self.load_annotations()
            table.log_exclusions(self.dataset_name)
            samples = self.select_samples(table)
            if not samples:
                raise ValueError(
                    f'{self.dataset_name}: no annotated image for split '
                    f'{self.split!r} in {table.source}.')
            img_root = self.img_prefix or self.data_root
            if osp.normpath(img_root) != osp.normpath(self.data_root):
                check_data_root(img_root, self.dataset_name,
                                self.EXPECTED_TREE)
                index = DirectoryIndex(img_root)
            paths = index.locate([s.image_id for s in samples],
                                 self.dataset_name,
                                 priority=self.image_priority,
                                 aliases=self.image_aliases,
                                 hint=self.missing_images_hint())
        finally:
            self._index = None  # do not keep (or pickle) the listing
        return [
            dict(
                img_path=paths[s.image_id],
                gt_label=list(s.label) if self.multi_label else int(s.label))
            for s in samples
        ]

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
        if self.split_file_used:
            body.append(f'Split file: \t{self.split_file_used}')
        return body
