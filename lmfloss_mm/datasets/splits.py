"""Deterministic, grouped and stratified train/val/test splits.

The rule (used by every dataset of this package):

1. Images are grouped by their leakage group (lesion or patient); a group is
   never divided between splits.
2. Each group gets one stratum: its class, or, when its images carry several
   classes (multi-label, or a lesion with two diagnoses), the rarest of them
   (fewest images in the whole table; ties: lower class index).
3. For every stratum, in class-index order, the groups are sorted by name and
   shuffled with ``numpy.random.default_rng(seed)`` (PCG64, identical on every
   platform).  If the stratum has at least one group per split (splits with
   ratio 0 are skipped), the first groups seed the splits train, val, test
   (one each) so that every class occurs in every split.  Every other group
   goes to the split whose image count is furthest below its target
   ``ratio * images_in_stratum`` (ties: train, val, test).  A stratum with
   fewer groups than splits fills train, then test, then val.
4. A warning names every class that ends up absent from a split.

The result is a mapping image id -> ``'train' | 'val' | 'test'``, stored as a
CSV file with the header ``image_id,group,label,split``.
"""
import csv
import hashlib
import logging
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

from lmfloss_mm.fileio import atomic_open
from .utils import (AnnotationTable, SplitFileError, duplicates, list_some,
                    read_table)

SPLIT_NAMES = ('train', 'val', 'test')
SPLIT_FILE_HEADER = ('image_id', 'group', 'label', 'split')
SPLIT_DIR_NAME = 'lmfloss_splits'
#: Environment variable overriding ``~/.cache/lmfloss_mm`` (used when the data
#: root is read-only).
CACHE_ENV = 'LMFLOSS_MM_CACHE'


def check_ratios(ratios: Sequence[float]) -> Tuple[float, float, float]:
    """Validate ``(train, val, test)`` ratios and return them as floats."""
    try:
        ratios = tuple(float(r) for r in ratios)
    except (TypeError, ValueError):
        raise ValueError(f'split_ratios must be three numbers, got {ratios!r}')
    if (len(ratios) != 3 or any(r < 0 for r in ratios) or ratios[0] <= 0
            or abs(sum(ratios) - 1) > 1e-6):
        raise ValueError(
            'split_ratios must be three non-negative numbers (train, val, '
            f'test) with train > 0 that sum to 1, got {ratios!r}; e.g. '
            '(0.7, 0.15, 0.15).')
    return ratios


def group_strata(table: AnnotationTable) -> Dict[str, int]:
    """Stratum (class index) of every group: its rarest class."""
    counts = table.class_counts()
    rank = {c: r for r, c in enumerate(
        sorted(range(len(table.classes)), key=lambda c: (counts[c], c)))}
    labels = defaultdict(set)
    for sample in table.samples:
        sample_labels = sample.label if table.multi_label else (
            sample.label, )
        labels[sample.group].update(sample_labels)
    strata = {}
    for group, group_labels in labels.items():
        if not group_labels:
            raise ValueError(f'Group {group!r} has no label.')
        strata[group] = min(group_labels, key=lambda c: rank[c])
    return strata


def make_grouped_split(table: AnnotationTable,
                       ratios: Sequence[float] = (0.7, 0.15, 0.15),
                       seed: int = 0,
                       dataset_name: str = '') -> Dict[str, str]:
    """Compute the split described in this module's docstring.

    Args:
        table (AnnotationTable): The annotations to split.
        ratios (Sequence[float]): Train, val and test fractions (of images).
            Defaults to ``(0.7, 0.15, 0.15)``.
        seed (int): Seed of the shuffle. Defaults to 0.
        dataset_name (str): For the warning about tiny classes.

    Returns:
        dict[str, str]: Image id -> split name.
    """
    ratios = np.asarray(check_ratios(ratios))
    active = [s for s in range(3) if ratios[s] > 0]
    fallback_order = [s for s in (0, 2, 1) if ratios[s] > 0]
    strata = group_strata(table)
    sizes = defaultdict(int)
    for sample in table.samples:
        sizes[sample.group] += 1

    rng = np.random.default_rng(int(seed))
    group_split: Dict[str, int] = {}
    for cls in range(len(table.classes)):
        groups = sorted(g for g, c in strata.items() if c == cls)
        if not groups:
            continue
        groups = [groups[i] for i in rng.permutation(len(groups))]
        targets = ratios * sum(sizes[g] for g in groups)
        filled = np.zeros(3)
        seeds = (active if len(groups) >= len(active) else
                 fallback_order[:len(groups)])
        for group, split in zip(groups, seeds):
            group_split[group] = split
            filled[split] += sizes[group]
        for group in groups[len(seeds):]:
            deficit = np.where(ratios > 0, targets - filled, -np.inf)
            split = int(np.argmax(deficit))
            group_split[group] = split
            filled[split] += sizes[group]
    assignment = {
        s.image_id: SPLIT_NAMES[group_split[s.group]]
        for s in table.samples
    }
    _warn_missing_classes(table, assignment, ratios, dataset_name)
    return assignment


def _warn_missing_classes(table: AnnotationTable, assignment: Dict[str, str],
                          ratios: np.ndarray, dataset_name: str) -> None:
    """Warn about classes absent from a split (too few groups)."""
    counts = split_class_counts(table, assignment)
    for split, ratio in zip(SPLIT_NAMES, ratios):
        missing = [
            name for name, n_split, n_all in zip(
                table.classes, counts[split], table.class_counts())
            if ratio > 0 and n_split == 0 and n_all > 0
        ]
        if missing:
            print_log(
                f'{dataset_name or "split"}: class(es) {", ".join(missing)} '
                f'have no image in the {split} split (too few lesions/'
                'patients to place one in every split).',
                logger='current',
                level=logging.WARNING)


def check_assignment(table: AnnotationTable, assignment: Dict[str, str],
                     source: str) -> None:
    """Check that an assignment covers exactly the table's images and keeps
    every group in one split.

    Raises:
        SplitFileError: With the offending ids or groups in the message.
    """
    ids = set(table.image_ids)
    unknown = [i for i in assignment if i not in ids]
    if unknown:
        raise SplitFileError(
            f'{source}: {len(unknown)} image id(s) are not in the annotations '
            f'({table.source}): {list_some(unknown)}. The split file belongs '
            'to another dataset, annotation file or option (e.g. '
            'exclude_ham10000, label_source); regenerate it with '
            'tools/make_splits.py or delete it.')
    missing = [i for i in table.image_ids if i not in assignment]
    if missing:
        raise SplitFileError(
            f'{source}: {len(missing)} annotated image(s) have no split: '
            f'{list_some(missing)}. Every image must be assigned to '
            'train, val or test; regenerate the file with '
            'tools/make_splits.py or delete it.')
    splits_of_group = defaultdict(set)
    for sample in table.samples:
        splits_of_group[sample.group].add(assignment[sample.image_id])
    shared = sorted(g for g, s in splits_of_group.items() if len(s) > 1)
    if shared:
        examples = [f'{g} ({"/".join(sorted(splits_of_group[g]))})'
                    for g in shared]
        raise SplitFileError(
            f'{source}: {len(shared)} group(s) (lesions/patients) have images '
            f'in more than one split, which leaks them between train and '
            f'evaluation: {list_some(examples)}. Put all images of a group '
            'in the same split.')


def write_split_file(path: str, table: AnnotationTable,
                     assignment: Dict[str, str]) -> None:
    """Write ``image_id,group,label,split`` rows (sorted by image id)
    atomically."""
    with atomic_open(path, newline='') as f:
        writer = csv.writer(f)
        writer.writerow(SPLIT_FILE_HEADER)
        for sample in sorted(table.samples, key=lambda s: s.image_id):
            writer.writerow([
                sample.image_id, sample.group,
                table.label_names(sample.label),
                assignment[sample.image_id]
            ])


def read_split_file(path: str, table: AnnotationTable) -> Dict[str, str]:
    """Read a split file and validate it against ``table``.

    The ``group`` and ``label`` columns are informational: groups are checked
    with the annotations' own groups.

    Raises:
        SplitFileError: Wrong header, split names other than train/val/test,
            repeated ids, ids unknown to the annotations, annotated images
            without a split, or a group in several splits.
    """
    header, rows = read_table(path)
    if tuple(header) != SPLIT_FILE_HEADER:
        raise SplitFileError(
            f'Unexpected header in split file {path}.\n'
            f'  expected: {",".join(SPLIT_FILE_HEADER)}\n'
            f'  found:    {",".join(header)}')
    bad_rows = [i + 2 for i, row in enumerate(rows) if len(row) != 4]
    if bad_rows:
        raise SplitFileError(
            f'{path}: line(s) {list_some(bad_rows)} do not have 4 fields.')
    names = sorted({row[3] for row in rows} - set(SPLIT_NAMES))
    if names:
        raise SplitFileError(
            f'{path}: unknown split name(s) {names}; the split column may '
            f'only hold {", ".join(SPLIT_NAMES)}.')
    dup = duplicates(row[0] for row in rows)
    if dup:
        raise SplitFileError(
            f'{path}: {len(dup)} image id(s) occur more than once: '
            f'{list_some(dup)}. Each image must be listed once.')
    assignment = {row[0]: row[3] for row in rows}
    check_assignment(table, assignment, f'Split file {path}')
    return assignment


def ratios_tag(ratios: Sequence[float]) -> str:
    """``(0.7, 0.15, 0.15)`` -> ``'70-15-15'``."""
    return '-'.join(f'{round(r * 100, 4):g}' for r in ratios)


def default_split_filename(dataset_key: str, ratios: Sequence[float],
                           seed: int) -> str:
    """``<dataset>_<ratios>_seed<seed>.csv``, e.g.
    ``ham10000_70-15-15_seed0.csv``."""
    return f'{dataset_key}_{ratios_tag(ratios)}_seed{int(seed)}.csv'


def cache_split_path(data_root: str, filename: str) -> str:
    """Fallback location for a read-only data root:
    ``~/.cache/lmfloss_mm/splits/<hash of data_root>/<filename>`` (the cache
    folder can be changed with ``$LMFLOSS_MM_CACHE``)."""
    cache = os.environ.get(CACHE_ENV) or osp.join(
        osp.expanduser('~'), '.cache', 'lmfloss_mm')
    digest = hashlib.sha1(
        osp.abspath(data_root).encode('utf-8')).hexdigest()[:10]
    return osp.join(cache, 'splits', digest, filename)


def split_class_counts(table: AnnotationTable,
                       assignment: Dict[str, str]) -> Dict[str, np.ndarray]:
    """Images per class in each split (positives for multi-label)."""
    counts = {s: np.zeros(len(table.classes), np.int64) for s in SPLIT_NAMES}
    for sample in table.samples:
        labels = sample.label if table.multi_label else (sample.label, )
        for label in labels:
            counts[assignment[sample.image_id]][label] += 1
    return counts


def format_split_counts(table: AnnotationTable,
                        assignment: Dict[str, str]) -> str:
    """A text table: one row per class, one column per split."""
    counts = split_class_counts(table, assignment)
    width = max(8, max(len(c) for c in table.classes) + 2)
    lines = [f'{"class":<{width}}' + ''.join(f'{s:>8}' for s in SPLIT_NAMES)
             + f'{"total":>8}']
    for i, name in enumerate(table.classes):
        row = [int(counts[s][i]) for s in SPLIT_NAMES]
        lines.append(f'{name:<{width}}' + ''.join(f'{n:>8}' for n in row) +
                     f'{sum(row):>8}')
    images = {s: 0 for s in SPLIT_NAMES}
    for split in assignment.values():
        images[split] += 1
    lines.append(f'{"images":<{width}}' +
                 ''.join(f'{images[s]:>8}' for s in SPLIT_NAMES) +
                 f'{sum(images.values()):>8}')
    return '\n'.join(lines)


def _write_or_fallback(path: str, data_root: str, table: AnnotationTable,
                       assignment: Dict[str, str],
                       fallback: bool) -> str:
    try:
        write_split_file(path, table, assignment)
        return path
    except OSError as e:
        if not fallback:
            raise
        cache_path = cache_split_path(data_root, osp.basename(path))
        print_log(
            f'Cannot write {path} ({e.strerror or e}); writing the split to '
            f'{cache_path} instead.',
            logger='current',
            level=logging.WARNING)
        write_split_file(cache_path, table, assignment)
        return cache_path


def resolve_split(table: AnnotationTable,
                  dataset_key: str,
                  data_root: str,
                  split_file: str = '',
                  ratios: Sequence[float] = (0.7, 0.15, 0.15),
                  seed: int = 0,
                  dataset_name: str = '') -> Tuple[Dict[str, str], str]:
    """Return the split assignment of ``table`` and the file that holds it.

    Args:
        table (AnnotationTable): Annotations to split.
        dataset_key (str): Prefix of the default file name (e.g.
            ``'ham10000'``).
        data_root (str): Data root; the default file lives in
            ``<data_root>/lmfloss_splits/``.
        split_file (str): ``''``: use
            ``<data_root>/lmfloss_splits/<dataset>_<ratios>_seed<seed>.csv``
            (or its copy under ``~/.cache/lmfloss_mm/splits/`` when the data
            root is read-only), reading it if it exists and writing it
            otherwise.  A path: read and validate it if it exists, else
            compute the split and write it there.  Relative paths are
            relative to ``data_root`` (like ``ann_file``).
        ratios (Sequence[float]): Train/val/test fractions used when the
            split is computed.
        seed (int): Seed used when the split is computed.
        dataset_name (str): For log messages.

    Returns:
        tuple[dict[str, str], str]: Image id -> split, and the file path.
    """
    name = dataset_name or dataset_key
    if split_file:
        path = split_file
        if not osp.isabs(path) and data_root:
            path = osp.join(data_root, path)
        candidates, fallback = [path], False
    else:
        path = osp.join(data_root, SPLIT_DIR_NAME,
                        default_split_filename(dataset_key, ratios, seed))
        candidates = [path, cache_split_path(data_root, osp.basename(path))]
        fallback = True
    for candidate in candidates:
        if osp.isfile(candidate):
            assignment = read_split_file(candidate, table)
            print_log(f'{name}: using the split in {candidate}',
                      logger='current')
            return assignment, candidate
    assignment = make_grouped_split(table, ratios, seed, name)
    written = _write_or_fallback(path, data_root, table, assignment,
                                 fallback)
    print_log(
        f'{name}: wrote a grouped, stratified split '
        f'({ratios_tag(ratios)}, seed {seed}) to {written}\n' +
        format_split_counts(table, assignment),
        logger='current')
    return assignment, written


__all__: List[str] = [
    'SPLIT_NAMES', 'SPLIT_FILE_HEADER', 'check_ratios', 'group_strata',
    'make_grouped_split', 'check_assignment', 'write_split_file',
    'read_split_file', 'default_split_filename', 'cache_split_path',
    'split_class_counts', 'format_split_counts', 'resolve_split'
]
