"""``CSVImageDataset``: any folder of images with an annotation CSV.

The annotation file has one row per image: a column with the image (a file
name with or without extension, or a path relative to the image folder),
the label (one column of class names, or one-hot class columns as in the
ISIC ground-truth files) and optionally a group column (patient, lesion)
that keeps related images in the same split.  Everything else (the
grouped, stratified split, the split file, class counts, errors) is the
machinery of :class:`~lmfloss_mm.datasets.base.SplitImageDataset` that the
HAM10000, ISIC 2019 and ODIR-5K classes use.
"""
import logging
import os.path as osp
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from .base import SplitImageDataset
from .utils import (IMG_EXTENSIONS, AnnotationError, AnnotationTable,
                    DatasetLayoutError, DirectoryIndex, Sample, list_some,
                    one_hot_index, read_table)

CSV_TREE = """\
data/my_dataset/              <- data_root
├── labels.csv                ann_file: one row per image
└── images/**/*.jpg           (any sub-folders; an image is found by the
                               name or relative path in image_column)"""

#: Appended to one-hot errors caused by a value other than 0/1.
ONE_HOT_HINT = (
    'The labels were read as one-hot columns because the file has several '
    'columns besides the image (and group) column. If one column holds '
    'class names, set label_column=...; if the file has other columns too, '
    'list the one-hot columns in classes=[...].')


@dataclass
class CSVAnnotationTable(AnnotationTable):
    """An :class:`~lmfloss_mm.datasets.utils.AnnotationTable` read from one
    annotation file, which also knows the line of every image id.

    Args:
        lines (dict[str, int]): Image id -> line number in the file (the
            header is line 1).
    """
    lines: Dict[str, int] = field(default_factory=dict)

    def where(self, image_id: str) -> str:
        """``'line 7 (ISIC_0034530)'`` for error messages."""
        return f'line {self.lines[image_id]} ({image_id})'


def normalize_image_id(value: str) -> str:
    """An image cell as an id: stripped, ``/`` as separator, no ``./``."""
    value = value.strip().replace('\\', '/')
    while value.startswith('./'):
        value = value[2:]
    return value


def _natural_order(names: Sequence[str]) -> Tuple[str, ...]:
    """Sorted class names; numerically when every name is an integer."""
    names = sorted(set(names))
    if all(re.fullmatch(r'[+-]?\d+', n) for n in names):
        return tuple(sorted(names, key=int))
    return tuple(names)


def _check_column(path: str, header: Sequence[str], column: str,
                  option: str, holds: str) -> None:
    if column not in header:
        raise AnnotationError(
            f'{path} has no column {column!r} ({option}); its header is '
            f'{",".join(header)}. Set {option}= to the column that holds '
            f'{holds}.')


def _label_layout(path: str, header: Sequence[str], image_column: str,
                  label_column: Optional[str], group_column: Optional[str],
                  classes: Optional[Sequence[str]]
                  ) -> Tuple[Optional[str], List[str]]:
    """``(label_column, [])`` for class names in one column, or
    ``(None, class_columns)`` for one-hot labels."""
    if label_column is not None:
        _check_column(path, header, label_column, 'label_column',
                      "each image's class name")
        return label_column, []
    others = [c for c in header if c not in (image_column, group_column)]
    if not others:
        raise AnnotationError(
            f'{path} has no label column besides {image_column!r}; its '
            f'header is {",".join(header)}. Add a column of class names '
            '(and set label_column=...) or one-hot class columns.')
    if len(others) == 1:
        return others[0], []
    if classes is None:
        return None, others
    missing = [c for c in classes if c not in header]
    if missing:
        raise AnnotationError(
            f'{path}: the classes {", ".join(missing)} are not columns of '
            f'the file (header: {",".join(header)}). With one-hot labels, '
            'classes=[...] lists the one-hot columns; if one column holds '
            'class names, set label_column=... .')
    return None, list(classes)


def _is_binary(value: str) -> bool:
    try:
        return float(value) in (0.0, 1.0)
    except ValueError:
        return False


def _class_name(label: str, label_column: str,
                classes: Optional[Sequence[str]], where: str) -> str:
    if not label:
        raise AnnotationError(
            f'{where}: empty label in column {label_column!r}. Give every '
            'image a class name, or remove the row.')
    if classes is not None and label not in classes:
        raise AnnotationError(
            f'{where}: label {label!r} is not one of the classes '
            f'{", ".join(classes)}. Fix the row, or add the class to '
            'classes=[...].')
    return label


def _one_hot_label(values: List[str], class_columns: List[str], path: str,
                   line: int, image_id: str) -> int:
    try:
        return one_hot_index(values, class_columns, path, line, image_id)
    except AnnotationError as error:
        if all(_is_binary(v) for v in values):
            raise
        raise AnnotationError(f'{error} {ONE_HOT_HINT}') from None


def read_image_csv(path: str,
                   image_column: str = 'image',
                   label_column: Optional[str] = None,
                   group_column: Optional[str] = None,
                   classes: Optional[Sequence[str]] = None
                   ) -> CSVAnnotationTable:
    """Parse an image annotation file without reading images.

    Accepts comma- or tab-separated text and ``.xlsx`` (see
    :func:`~lmfloss_mm.datasets.utils.read_table`).

    Args:
        path (str): The annotation file.
        image_column (str): Column with the image of each row: a file name
            with or without extension, or a path relative to the image
            folder. Defaults to ``'image'``.
        label_column (str, optional): Column with each image's class name.
            ``None``: when the file has exactly one column besides the image
            and group columns, that column; otherwise the labels are one-hot
            columns (exactly one ``1`` per row; ``1``/``0`` or
            ``1.0``/``0.0``): the columns named in ``classes`` if given,
            else every column besides the image and group columns.
            Defaults to None.
        group_column (str, optional): Column with each image's group
            (patient, lesion); images of one group always share a split.
            An empty cell makes the image its own group.  ``None``: every
            image is its own group. Defaults to None.
        classes (Sequence[str], optional): Class names in label-index
            order.  With a class-name column every name must be one of
            them; with one-hot labels they select the class columns.
            ``None``: the names found in the column (sorted, numerically
            when all are integers), or the one-hot columns in file order.
            Defaults to None.

    Returns:
        CSVAnnotationTable: One sample per row, in file order.

    Raises:
        AnnotationError: A missing column, an empty image or label cell, a
        label that is not one of ``classes``, a one-hot row without or with
        several 1s, or an image listed twice (each names the line and the
        fix).
    """
    header, rows = read_table(path)
    _check_column(path, header, image_column, 'image_column',
                  'the image file names')
    if group_column is not None:
        _check_column(path, header, group_column, 'group_column',
                      'the group (patient, lesion) of each image')
    label_column, class_columns = _label_layout(path, header, image_column,
                                                label_column, group_column,
                                                classes)
    col = {name: i for i, name in enumerate(header)}
    ids, labels, groups, lines = [], [], [], {}
    repeated = defaultdict(list)
    for line, row in enumerate(rows, start=2):
        row = row + [''] * (len(header) - len(row))
        image_id = normalize_image_id(row[col[image_column]])
        if not image_id:
            raise AnnotationError(
                f'{path}, line {line}: empty {image_column!r} cell. Every '
                'row needs an image; fill it in or remove the row.')
        where = f'{path}, line {line} ({image_id})'
        if image_id in lines:
            repeated[image_id].append(line)
            continue
        if label_column is not None:
            labels.append(_class_name(row[col[label_column]], label_column,
                                      classes, where))
        else:
            labels.append(_one_hot_label([row[col[c]] for c in class_columns],
                                         class_columns, path, line,
                                         image_id))
        ids.append(image_id)
        groups.append(row[col[group_column]] if group_column else '')
        lines[image_id] = line
    if repeated:
        examples = [f'{i} (lines {", ".join(map(str, [lines[i]] + r))})'
                    for i, r in repeated.items()]
        raise AnnotationError(
            f'{path}: {len(repeated)} image(s) are listed more than once: '
            f'{list_some(examples)}. List every image once.')
    if not ids:
        raise AnnotationError(f'{path} lists no image (only a header).')

    if label_column is None:
        classes = tuple(class_columns)
    else:
        classes = tuple(classes) if classes is not None else _natural_order(
            labels)
        labels = [classes.index(name) for name in labels]
    empty_groups = [i for i, g in zip(ids, groups) if not g]
    if group_column and empty_groups:
        print_log(
            f'{path}: {len(empty_groups)} image(s) have an empty '
            f'{group_column!r}; each of them is its own group (e.g. '
            f'{list_some(empty_groups)}).',
            logger='current',
            level=logging.WARNING)
    samples = [
        Sample(image_id, label, group or image_id)
        for image_id, label, group in zip(ids, labels, groups)
    ]
    return CSVAnnotationTable(classes, samples, source=path, lines=lines)


def _matches(relpath: str, key: str, extension: Optional[str]) -> bool:
    """Whether a file (path relative to the image root) is the image ``key``
    (the id without its image extension): its path without extension is
    ``key`` or ends with ``/key``, and the extensions agree when the id has
    one (any case)."""
    stem, ext = osp.splitext(relpath.replace(osp.sep, '/'))
    if extension is not None and ext.lower() != extension:
        return False
    return stem == key or stem.endswith('/' + key)


def image_candidates(index: DirectoryIndex, image_id: str) -> List[str]:
    """Every file under ``index.root`` that ``image_id`` may name.

    ``image_id`` is a file name or a path relative to the image root, with
    or without extension.  A path that exists as given is the only
    candidate; otherwise the images (:data:`IMG_EXTENSIONS`) whose relative
    path without extension is the id without extension, or ends with
    ``/`` + it, are (with the same extension, in any case, when the id has
    one).
    """
    direct = osp.join(index.root, image_id)
    if osp.splitext(image_id)[1] and osp.isfile(direct):
        return [direct]
    key, extension = osp.splitext(image_id)
    if extension.lower() in IMG_EXTENSIONS:
        extension = extension.lower()
    else:
        key, extension = image_id, None
    return [
        path for path in index.images.get(osp.basename(key), [])
        if _matches(index.relpath(path), key, extension)
    ]


def locate_listed_images(index: DirectoryIndex, table: CSVAnnotationTable,
                         image_ids: Sequence[str],
                         dataset_name: str) -> Dict[str, str]:
    """The file of every image id (see :func:`image_candidates`).

    Raises:
        DatasetLayoutError: If images are missing (with ``missing_ids``,
            ``found_paths`` and ``search_root`` like
            :meth:`DirectoryIndex.locate`).
        AnnotationError: If an id matches several files, or two ids name
            the same file.
    """
    found, missing, ambiguous = {}, [], {}
    for image_id in image_ids:
        candidates = image_candidates(index, image_id)
        if not candidates:
            missing.append(image_id)
        elif len(candidates) > 1:
            ambiguous[image_id] = candidates
        else:
            found[image_id] = candidates[0]
    if missing:
        error = DatasetLayoutError(
            f'{dataset_name}: {len(missing)} of {len(image_ids)} images '
            f'listed in {table.source} were not found under {index.root}: '
            f'{list_some(table.where(i) for i in missing)}. An image is '
            'found by its path relative to that folder (any sub-folder '
            'when the id is a bare file name), without extension unless '
            f'the id has one ({", ".join(IMG_EXTENSIONS)} are searched). '
            'Check image_column, data_root and data_prefix.')
        error.missing_ids, error.found_paths = missing, found
        error.search_root = index.root
        raise error
    if ambiguous:
        examples = [
            f'{table.where(i)}: '
            f'{" / ".join(index.relpath(p) for p in paths)}'
            for i, paths in ambiguous.items()
        ]
        raise AnnotationError(
            f'{dataset_name}: {len(ambiguous)} image id(s) in '
            f'{table.source} match several files under {index.root}: '
            f'{list_some(examples)}. Write each image as its path relative '
            'to that folder (with extension), or point '
            "data_prefix=dict(img_path=...) at the folder that holds them.")
    by_path = defaultdict(list)
    for image_id, path in found.items():
        by_path[osp.realpath(path)].append(image_id)
    shared = [ids for ids in by_path.values() if len(ids) > 1]
    if shared:
        examples = [' and '.join(table.where(i) for i in ids)
                    for ids in shared]
        raise AnnotationError(
            f'{dataset_name}: {len(shared)} image(s) are listed more than '
            f'once in {table.source} under different names: '
            f'{list_some(examples)}. List every image once.')
    return found


@DATASETS.register_module()
class CSVImageDataset(SplitImageDataset):
    """Any single-label image dataset: a folder of images and an annotation
    CSV, split like the paper datasets.

    Expected layout (only ``ann_file`` and the images are needed)::

        data/my_dataset/              <- data_root
        ├── labels.csv                ann_file: one row per image
        └── images/**/*.jpg           any sub-folders

    For example, the ISIC 2018 Task 3 ground truth
    (``image,MEL,NV,BCC,AKIEC,BKL,DF,VASC``, one-hot) with its images loads
    with ``CSVImageDataset(data_root=FOLDER,
    ann_file='ISIC2018_Task3_Test_GroundTruth.csv')``: the classes are the
    seven one-hot columns, in file order.

    ``train``/``val``/``test`` come from a deterministic split grouped by
    ``group_column`` and stratified by class (see
    :mod:`lmfloss_mm.datasets.splits`), written to a split file that later
    runs read (see ``split_file``); ``'all'`` is every listed image.

    Args:
        data_root (str): Root folder of the dataset; the images are looked
            up below it (or below ``data_prefix['img_path']``).
        split (str): ``'train'``, ``'val'``, ``'test'`` or ``'all'``.
            Defaults to ``'train'``.
        ann_file (str): The annotation file (CSV, TSV or ``.xlsx``);
            relative to ``data_root`` unless absolute.  Required.
        image_column (str): Column with the image of each row: a file name
            with or without extension (found in any sub-folder) or a path
            relative to the image folder.  A name that matches several
            files is an error.  Defaults to ``'image'``.
        label_column (str, optional): Column with each image's class name.
            ``None``: the only other column when there is one, else one-hot
            class columns (see :func:`read_image_csv`). Defaults to None.
        group_column (str, optional): Column with the group (patient,
            lesion) of each image; a group is never divided between splits.
            ``None``: every image is its own group. Defaults to None.
        **kwargs: Other arguments of :class:`SplitImageDataset` and
            :class:`mmpretrain.datasets.BaseDataset`: ``split_file``,
            ``split_ratios``, ``split_seed``, ``pipeline`` and so on.  The
            default split file is ``<data_root>/lmfloss_splits/<ann_file
            stem>[_by-<group_column>]_<ratios>_seed<seed>.csv``.
            ``classes=[...]`` (names in label-index order) fixes the classes
            and their order; otherwise they are read from the file (see
            :func:`read_image_csv`) and set as ``metainfo['classes']``.

    Examples:
        >>> from lmfloss_mm.datasets import CSVImageDataset
        >>> train = CSVImageDataset('data/my_dataset', split='train',
        ...                         ann_file='labels.csv',
        ...                         label_column='diagnosis',
        ...                         group_column='patient_id')
    """

    EXPECTED_TREE = CSV_TREE

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = '',
                 image_column: str = 'image',
                 label_column: Optional[str] = None,
                 group_column: Optional[str] = None,
                 **kwargs):
        if not ann_file:
            raise ValueError(
                'CSVImageDataset needs ann_file=...: the annotation file '
                '(one row per image), relative to data_root.')
        self.image_column = image_column
        self.label_column = label_column
        self.group_column = group_column
        super().__init__(data_root, split, ann_file, **kwargs)

    @property
    def split_key(self) -> str:
        stem = osp.splitext(osp.basename(self.ann_file))[0]
        if self.group_column:
            stem += f'_by-{self.group_column}'
        return re.sub(r'[^\w.-]+', '-', stem)

    def load_annotations(self) -> CSVAnnotationTable:
        table = read_image_csv(self.ann_file, self.image_column,
                               self.label_column, self.group_column,
                               self._metainfo.get('classes'))
        self._metainfo['classes'] = table.classes
        return table

    def locate_images(self, index: DirectoryIndex,
                      table: CSVAnnotationTable,
                      samples: List[Sample]) -> Dict[str, str]:
        return locate_listed_images(index, table,
                                    [s.image_id for s in samples],
                                    self.dataset_name)

    def extra_repr(self) -> List[str]:
        body = super().extra_repr()
        columns = f'image={self.image_column!r}, label=' + (
            repr(self.label_column) if self.label_column else 'auto')
        if self.group_column:
            columns += f', group={self.group_column!r}'
        body.append(f'Columns: \t{columns}')
        return body
