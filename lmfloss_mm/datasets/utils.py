"""File helpers shared by the dataset classes: errors, table readers and
image look-up.

Nothing here reads image pixels.  The readers return plain Python objects so
that annotations can be parsed (and splits computed) without the images.
"""
import csv
import logging
import os
import os.path as osp
from collections import defaultdict
from dataclasses import dataclass, field
from typing import (Callable, Dict, Iterable, List, NamedTuple, Optional,
                    Sequence, Tuple, Union)

import numpy as np
from mmengine.logging import print_log

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png')
#: How many names an error message lists before it says "...".
MAX_LISTED = 5


class DatasetLayoutError(FileNotFoundError):
    """A folder, annotation file or image the dataset needs is missing.

    Raised by :meth:`DirectoryIndex.locate` for missing images, it also has
    ``missing_ids`` (every missing image id), ``found_paths`` (id -> path of
    the images that were found) and ``search_root``.
    """
    missing_ids: Sequence[str] = ()
    found_paths: Optional[Dict[str, str]] = None
    search_root: str = ''


class AnnotationError(ValueError):
    """An annotation file has an unexpected header or an invalid row."""


class SplitFileError(ValueError):
    """A split file is malformed or does not match the annotations."""


class Sample(NamedTuple):
    """One annotated image.

    Attributes:
        image_id (str): File name without folder and extension.
        label (int | tuple[int]): Class index, or sorted class indices for
            multi-label annotations.
        group (str): Leakage group (lesion or patient). Images that share a
            group always fall into the same split.
    """
    image_id: str
    label: Union[int, Tuple[int, ...]]
    group: str


@dataclass
class AnnotationTable:
    """Parsed annotations of one dataset, independent of the images.

    Args:
        classes (tuple[str]): Class names; labels index into it.
        samples (list[Sample]): One entry per image, in file order.
        source (str): Path(s) the annotations were read from.
        multi_label (bool): Whether ``Sample.label`` is a tuple of indices.
        excluded (dict[str, list[str]]): Images deliberately left out, keyed
            by the reason (each reason is also logged).
    """
    classes: Tuple[str, ...]
    samples: List[Sample]
    source: str
    multi_label: bool = False
    excluded: Dict[str, List[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def image_ids(self) -> List[str]:
        return [s.image_id for s in self.samples]

    def class_counts(self) -> np.ndarray:
        """Number of images per class (positives per class if multi-label)."""
        counts = np.zeros(len(self.classes), dtype=np.int64)
        for sample in self.samples:
            labels = sample.label if self.multi_label else (sample.label, )
            for label in labels:
                counts[label] += 1
        return counts

    def label_names(self, label: Union[int, Sequence[int]]) -> str:
        """Class name(s) of a label, multi-label names joined with ``|``."""
        if isinstance(label, (int, np.integer)):
            return self.classes[label]
        return '|'.join(self.classes[i] for i in label)

    def log_exclusions(self, dataset_name: str) -> None:
        """Log one warning line per exclusion reason (never drop silently)."""
        for reason, ids in self.excluded.items():
            if ids:
                print_log(
                    f'{dataset_name}: excluded {len(ids)} image(s) from '
                    f'{self.source}: {reason} (e.g. {list_some(ids)})',
                    logger='current',
                    level=logging.WARNING)


def list_some(names: Iterable, limit: int = MAX_LISTED) -> str:
    """``'a, b, c, ... (N in total)'`` for error messages."""
    names = list(names)
    text = ', '.join(str(n) for n in names[:limit])
    if len(names) > limit:
        text += f', ... ({len(names)} in total)'
    return text


def strip_image_extension(name: str) -> str:
    """``'ISIC_0024306.jpg'`` -> ``'ISIC_0024306'``; folders are dropped."""
    name = osp.basename(name.strip())
    stem, ext = osp.splitext(name)
    return stem if ext.lower() in IMG_EXTENSIONS else name


def _cell_to_str(value) -> str:
    if value is None:
        return ''
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(path: str) -> Tuple[List[str], List[List[str]]]:
    """Read a comma- or tab-separated text file or an ``.xlsx`` sheet.

    The delimiter is a tab for ``.tab``/``.tsv`` files, or when the header
    line has tabs and no commas (Dataverse "ingested" files); otherwise a
    comma.  Files without an extension are read as text.

    Args:
        path (str): File to read.

    Returns:
        tuple[list[str], list[list[str]]]: The stripped header and the rows
        as strings (empty lines are skipped; an ``.xlsx`` file is read from
        its first sheet).
    """
    if not osp.isfile(path):
        raise DatasetLayoutError(f'Annotation file not found: {path}')
    if path.lower().endswith('.xlsx'):
        return _read_xlsx(path)
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            first_line = f.readline()
            f.seek(0)
            ext = osp.splitext(path)[1].lower()
            tabbed = '\t' in first_line and ',' not in first_line
            delimiter = '\t' if ext in ('.tab', '.tsv') or tabbed else ','
            rows = [row for row in csv.reader(f, delimiter=delimiter)]
    except UnicodeDecodeError as e:
        raise AnnotationError(
            f'{path} is not UTF-8 text ({e}). Save it as UTF-8 CSV.') from e
    rows = [[c.strip() for c in row] for row in rows if any(row)]
    if not rows:
        raise AnnotationError(f'{path} is empty (no header line).')
    return rows[0], rows[1:]


def _read_xlsx(path: str) -> Tuple[List[str], List[List[str]]]:
    try:
        import openpyxl
    except ImportError as e:
        raise ImportError(
            f'Reading {path} needs openpyxl: `pip install openpyxl` '
            '(or `pip install lmfloss-mm[xlsx]`), or export the sheet as '
            'CSV and pass that file as ann_file.') from e
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        rows = [[_cell_to_str(c) for c in row]
                for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    rows = [row for row in rows if any(row)]
    if not rows:
        raise AnnotationError(f'{path} is empty (no header line).')
    return rows[0], rows[1:]


def check_header(path: str, header: Sequence[str],
                 required: Sequence[str],
                 expected: Union[str, Sequence[str]]) -> Dict[str, int]:
    """Make sure ``header`` has the ``required`` columns.

    Args:
        path (str): The file, for the message.
        header (Sequence[str]): The header that was found.
        required (Sequence[str]): Column names that must be present.
        expected (str | Sequence[str]): The expected header line(s), printed
            in the error message.

    Returns:
        dict[str, int]: Column name -> column index.
    """
    columns = {name: i for i, name in enumerate(header)}
    missing = [name for name in required if name not in columns]
    if missing:
        if isinstance(expected, str):
            expected = [expected]
        raise AnnotationError(
            f'Unexpected header in {path}.\n'
            '  expected: ' + '\n        or: '.join(expected) + '\n'
            f'  found:    {",".join(header)}\n'
            f'  missing columns: {", ".join(missing)}')
    return columns


class DirectoryIndex:
    """Recursive listing of a data root: images by id, other files by name.

    Built with one :func:`os.walk`; hidden folders are skipped.

    Args:
        root (str): Folder to scan.
    """

    def __init__(self, root: str):
        self.root = root
        self.images: Dict[str, List[str]] = defaultdict(list)
        self.files: Dict[str, List[str]] = defaultdict(list)
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
            for name in sorted(filenames):
                path = osp.join(dirpath, name)
                stem, ext = osp.splitext(name)
                if ext.lower() in IMG_EXTENSIONS:
                    self.images[stem].append(path)
                else:
                    self.files[name.lower()].append(path)

    def relpath(self, path: str) -> str:
        return osp.relpath(path, self.root)

    def find_file(self, names: Sequence[str]) -> List[str]:
        """Paths of non-image files called one of ``names`` (any case),
        shallowest first."""
        found = []
        for name in names:
            found += self.files.get(name.lower(), [])
        return sorted(set(found), key=lambda p: (p.count(os.sep), p))

    def locate(self,
               image_ids: Sequence[str],
               dataset_name: str,
               priority: Optional[Callable[[str], int]] = None,
               aliases: Optional[Callable[[str], List[str]]] = None,
               hint: str = '') -> Dict[str, str]:
        """Find the file of every image id.

        Args:
            image_ids (Sequence[str]): Ids (file stems) to look up.
            dataset_name (str): For messages.
            priority (Callable[[str], int], optional): Maps a path relative
                to the root to a rank; when an id exists several times, the
                lowest rank wins (ties: alphabetical path).  Defaults to
                alphabetical order only.
            aliases (Callable[[str], list[str]], optional): Other stems to
                try when an id is not found (e.g. without ``_downsampled``).
            hint (str): Appended to the error message.

        Returns:
            dict[str, str]: Image id -> path.

        Raises:
            DatasetLayoutError: If any image is missing; the message gives
            how many and the first few names.
        """
        found, missing, duplicated = {}, [], []
        for image_id in image_ids:
            candidates = self.images.get(image_id, [])
            if not candidates and aliases is not None:
                for alias in aliases(image_id):
                    candidates = self.images.get(alias, [])
                    if candidates:
                        break
            if not candidates:
                missing.append(image_id)
                continue
            if len(candidates) > 1:
                duplicated.append(image_id)
                if priority is not None:
                    candidates = sorted(
                        candidates,
                        key=lambda p: (priority(self.relpath(p)), p))
            found[image_id] = candidates[0]
        if missing:
            error = DatasetLayoutError(
                f'{dataset_name}: {len(missing)} of {len(image_ids)} images '
                f'listed in the annotations were not found under '
                f'{self.root} (searched recursively for '
                f'<id>{{{",".join(IMG_EXTENSIONS)}}}): {list_some(missing)}.'
                ' Check that every image archive is unpacked under the data '
                'root.' + (f' {hint}' if hint else ''))
            error.missing_ids, error.found_paths = missing, found
            error.search_root = self.root
            raise error
        if duplicated:
            example = duplicated[0]
            print_log(
                f'{dataset_name}: {len(duplicated)} image id(s) exist in '
                f'several folders under {self.root}; one file is used per id '
                f'(e.g. {example}: {self.relpath(found[example])}).',
                logger='current')
        return found


def find_annotation_file(index: DirectoryIndex, names: Sequence[str],
                         what: str, dataset_name: str,
                         expected_tree: str) -> str:
    """Locate an annotation file by name anywhere under the data root.

    Args:
        index (DirectoryIndex): Listing of the data root.
        names (Sequence[str]): Accepted file names (any case).
        what (str): Description for messages, e.g. ``'metadata CSV'``.
        dataset_name (str): For messages.
        expected_tree (str): Printed when nothing is found.

    Returns:
        str: The shallowest match.

    Raises:
        DatasetLayoutError: If no file or several equally deep files match.
    """
    found = index.find_file(names)
    if not found:
        raise DatasetLayoutError(
            f'{dataset_name}: no {what} ({" / ".join(names)}) found under '
            f'{index.root}. Expected layout:\n{expected_tree}\n'
            'Pass the file explicitly with ann_file=... if it has another '
            'name.')
    depth = found[0].count(os.sep)
    same_depth = [p for p in found if p.count(os.sep) == depth]
    if len(same_depth) > 1:
        raise DatasetLayoutError(
            f'{dataset_name}: several {what}s found under {index.root}: '
            f'{list_some(same_depth)}. Choose one with ann_file=...')
    return found[0]


def check_data_root(data_root: str, dataset_name: str,
                    expected_tree: str) -> None:
    """Raise :class:`DatasetLayoutError` unless ``data_root`` is a folder."""
    if not data_root or not osp.isdir(data_root):
        raise DatasetLayoutError(
            f'{dataset_name}: data_root {data_root!r} is not a folder. '
            f'Download the dataset (see docs/datasets.md) and unpack it so '
            f'that it looks like:\n{expected_tree}\nthen set data_root, '
            'e.g. with --cfg-options train_dataloader.dataset.data_root=... '
            'or the environment variable named in the config.')


def duplicates(values: Iterable[str]) -> List[str]:
    """Values that occur more than once, in first-occurrence order."""
    seen, dup_set, dup = set(), set(), []
    for v in values:
        if v in seen and v not in dup_set:
            dup.append(v)
            dup_set.add(v)
        seen.add(v)
    return dup


def check_unique_ids(path: str, image_ids: Iterable[str]) -> None:
    """Refuse an annotation file that lists an image more than once.

    Raises:
        AnnotationError: Naming the repeated ids of ``path``.
    """
    dup = duplicates(image_ids)
    if dup:
        raise AnnotationError(
            f'{path}: {len(dup)} image id(s) are listed more than once: '
            f'{list_some(dup)}. Remove the repeated rows.')


def binary_flags(values: Sequence[str], columns: Sequence[str], where: str,
                 what: str = 'the values') -> List[bool]:
    """Which cells of a row of 0/1 columns are 1 (values parsed as floats,
    so ``1`` and ``1.0`` both count).

    Args:
        values (Sequence[str]): The cells.
        columns (Sequence[str]): Their column names, for messages.
        where (str): The file and line, for messages.
        what (str): What the cells are, for messages.

    Raises:
        AnnotationError: If a value is not a number, or not 0 or 1.
    """
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise AnnotationError(
            f'{where}: {what} must be numbers, got {list(values)} for '
            f'columns {list(columns)}.') from None
    if any(v not in (0.0, 1.0) for v in numbers):
        raise AnnotationError(
            f'{where}: {what} must be 0 or 1, got '
            f'{dict(zip(columns, values))}.')
    return [v == 1.0 for v in numbers]


def one_hot_index(values: Sequence[str], columns: Sequence[str], path: str,
                  line: int, image_id: str) -> int:
    """Index of the single 1 in a one-hot row (values parsed as floats).

    Raises:
        AnnotationError: If a value is not a number, not 0/1, or the row has
        no 1 or several 1s.
    """
    flags = binary_flags(values, columns, f'{path}, line {line} ({image_id})',
                         'one-hot values')
    ones = [c for c, one in zip(columns, flags) if one]
    if len(ones) != 1:
        what = (f'several labels ({", ".join(ones)})'
                if ones else 'no label')
        raise AnnotationError(
            f'{path}, line {line} ({image_id}) has {what}; every row needs '
            f'exactly one 1 among {", ".join(columns)}.')
    return list(columns).index(ones[0])
