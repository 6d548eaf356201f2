"""Data root and cross-validation folds for the ISIC 2018 Task 3 benchmark.

The ISIC 2018 Task 3 test set (1,512 images, the HAM10000 distribution) is
published as images plus a one-hot ground truth
(``image,MEL,NV,BCC,AKIEC,BKL,DF,VASC``).  :func:`build_data_root` turns it
into a folder that :class:`lmfloss_mm.datasets.HAM10000` reads like the real
HAM10000 (``HAM10000_metadata.csv`` with the official 7-column header and the
images, symlinked or stored pre-resized), and :func:`write_cv_split_files`
writes one split file per fold in the project's format
(``image_id,group,label,split``), so that the dataset class selects
``train`` / ``val`` / ``test`` itself.

No lesion ids are published for these images, so every image is its own
group (``lesion_id`` = image id).  If the set holds several images of one
lesion, they can fall on both sides of a fold.

Folds (:func:`stratified_folds`): class by class, the image ids are sorted,
shuffled with ``numpy.random.default_rng(seed)`` and dealt round-robin to the
folds, the dealing of each class starting at the fold after the one where the
previous class stopped, so fold sizes differ by at most one image and the
count of every class by at most one between folds.  Every image is in exactly
one test fold.  Inside the other folds (the training part), a stratified
validation part (:func:`validation_part`) is drawn for checkpoint selection:
``round(val_ratio * n_c)`` of the ``n_c`` training-part images of every
class ``c`` (at least one when ``n_c >= 2``, never all), chosen by a
generator seeded with ``(seed, fold)``.
"""
import csv
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

from lmfloss_mm.datasets.ham10000 import (HAM10000_CLASSES,
                                          read_ham10000_annotations,
                                          read_isic2018_task3_gt)
from lmfloss_mm.datasets.splits import check_assignment, write_split_file
from lmfloss_mm.datasets.utils import (AnnotationTable, DatasetLayoutError,
                                       DirectoryIndex)
from lmfloss_mm.fileio import atomic_open

#: Name of the official ground-truth file of the ISIC 2018 Task 3 test set.
ISIC2018_TEST_GT = 'ISIC2018_Task3_Test_GroundTruth.csv'
#: The official HAM10000 metadata header (Kaggle / 7 columns).
HAM10000_METADATA_HEADER = ('lesion_id', 'image_id', 'dx', 'dx_type', 'age',
                            'sex', 'localization')
#: Folder of the image links inside the built data root.
IMAGE_DIR = 'images'
#: Folder of the per-fold split files inside the built data root.
SPLIT_DIR = 'cv_splits'


def find_ground_truth(index: DirectoryIndex,
                      name: str = ISIC2018_TEST_GT) -> str:
    """The ground-truth CSV in the indexed folder (shallowest first)."""
    found = index.find_file([name])
    if not found:
        raise DatasetLayoutError(
            f'No {name} under {index.root}. Pass the folder of the ISIC 2018 '
            'Task 3 test set (images + ground truth), e.g. '
            '../shared/data/isic2018_task3_test.')
    return found[0]


def resize_image(source: str, target: str, size: int) -> None:
    """Write ``source`` resized to ``size`` x ``size`` as a PNG, exactly as
    the configs' pipeline would resize it (``LoadImageFromFile`` with cv2,
    then ``Resize(backend='pillow', interpolation='bilinear')``); the lossless
    PNG decodes to the same array and the pipeline's own ``Resize`` to the
    same size is then the identity.  Written by the image cache's
    :func:`~lmfloss_mm.datasets.image_cache_build.store_image`."""
    from mmpretrain.registry import TRANSFORMS

    from lmfloss_mm.datasets.image_cache_build import store_image
    transforms = [
        TRANSFORMS.build(dict(type='LoadImageFromFile')),
        TRANSFORMS.build(
            dict(type='Resize', scale=(size, size), backend='pillow',
                 interpolation='bilinear'))
    ]
    store_image(source, target, transforms)


def build_data_root(source: str, data_root: str,
                    resize_to: Optional[int] = None) -> AnnotationTable:
    """Make ``data_root`` a HAM10000-style folder of the ISIC 2018 Task 3
    test set.

    Writes ``<data_root>/HAM10000_metadata.csv`` (header
    ``lesion_id,image_id,dx,dx_type,age,sex,localization``; ``lesion_id`` =
    ``image_id`` because no lesion ids exist for these images, ``dx`` from
    the one-hot column, the other columns empty) and, in
    ``<data_root>/images/``, either symlinks ``<image_id>.jpg`` to the
    source images or (``resize_to``) ``<image_id>.png`` copies already
    resized as the pipeline would (:func:`resize_image`), which saves the
    JPEG decoding in every epoch of a small-image run.  Existing links and
    copies are kept, so calling it again is cheap.

    Args:
        source (str): Folder with ``ISIC2018_Task3_Test_GroundTruth.csv``
            and the images (any sub-folders).
        data_root (str): Output folder.
        resize_to (int, optional): Store PNGs of this square size instead
            of symlinks. Defaults to None.

    Returns:
        AnnotationTable: The metadata as the HAM10000 class reads it.

    Raises:
        DatasetLayoutError: No ground truth, or an image of the ground truth
            is missing.
    """
    index = DirectoryIndex(source)
    gt = read_isic2018_task3_gt(find_ground_truth(index))
    # image id -> its first file in sorted walk order
    images = {stem: osp.abspath(paths[0])
              for stem, paths in index.images.items()}
    missing = [s.image_id for s in gt.samples if s.image_id not in images]
    if missing:
        raise DatasetLayoutError(
            f'{len(missing)} image(s) of the ground truth are missing under '
            f'{source}: {", ".join(missing[:5])}')
    image_dir = osp.join(data_root, IMAGE_DIR)
    os.makedirs(image_dir, exist_ok=True)
    for sample in gt.samples:
        target = images[sample.image_id]
        if resize_to:
            copy = osp.join(image_dir, sample.image_id + '.png')
            if not osp.isfile(copy):
                resize_image(target, copy, resize_to)
            continue
        link = osp.join(image_dir,
                        sample.image_id + osp.splitext(target)[1].lower())
        if osp.islink(link) and os.readlink(link) == target:
            continue
        if osp.lexists(link):
            os.remove(link)
        os.symlink(target, link)
    rows = [HAM10000_METADATA_HEADER]
    for sample in gt.samples:
        rows.append((sample.image_id, sample.image_id,
                     HAM10000_CLASSES[sample.label], '', '', '', ''))
    metadata = osp.join(data_root, 'HAM10000_metadata.csv')
    with atomic_open(metadata, newline='') as f:
        csv.writer(f).writerows(rows)
    return read_ham10000_annotations(metadata)


def stratified_folds(labels: Sequence[int], n_folds: int = 5,
                     seed: int = 0,
                     ids: Optional[Sequence[str]] = None) -> np.ndarray:
    """Assign every sample to one of ``n_folds`` test folds, stratified by
    class (see the module docstring).

    Args:
        labels (Sequence[int]): Class index of every sample.
        n_folds (int): Number of folds (>= 2). Defaults to 5.
        seed (int): Seed of the shuffle. Defaults to 0.
        ids (Sequence[str], optional): Sample names; the order inside a
            class is the sorted names (the input order when None), so the
            result does not depend on the file order.

    Returns:
        np.ndarray: Fold index (0 .. n_folds - 1) of every sample.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if n_folds < 2:
        raise ValueError(f'n_folds must be >= 2, got {n_folds}')
    if ids is None:
        ids = [f'{i:09d}' for i in range(len(labels))]
    if len(ids) != len(labels):
        raise ValueError('ids and labels differ in length')
    rng = np.random.default_rng(int(seed))
    folds = np.full(len(labels), -1, dtype=np.int64)
    start = 0
    for cls in np.unique(labels):
        members = sorted(np.flatnonzero(labels == cls), key=lambda i: ids[i])
        members = [members[i] for i in rng.permutation(len(members))]
        for position, index in enumerate(members):
            folds[index] = (start + position) % n_folds
        start = (start + len(members)) % n_folds
    return folds


def validation_part(labels: Sequence[int], ids: Sequence[str],
                    val_ratio: float, seed: int) -> List[int]:
    """Positions (into ``labels``) of a stratified validation part.

    ``round(val_ratio * n_c)`` samples of every class ``c`` (at least one if
    the class has >= 2 samples, and never all of them), the first ones of
    the class's sorted ids shuffled by ``numpy.random.default_rng(seed)``.
    """
    if not 0 < val_ratio < 1:
        raise ValueError(f'val_ratio must be in (0, 1), got {val_ratio}')
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(labels):
        members = sorted(np.flatnonzero(labels == cls), key=lambda i: ids[i])
        n = len(members)
        k = int(np.floor(val_ratio * n + 0.5))
        k = min(max(k, 1 if n >= 2 else 0), n - 1)
        order = rng.permutation(n)
        chosen += [int(members[i]) for i in order[:k]]
    return sorted(chosen)


def cv_assignment(table: AnnotationTable, fold: int, n_folds: int = 5,
                  val_ratio: float = 0.2, seed: int = 0) -> Dict[str, str]:
    """Image id -> ``'train' | 'val' | 'test'`` for one fold.

    ``test`` is fold ``fold`` of :func:`stratified_folds`; ``val`` is the
    :func:`validation_part` of the remaining images (seeded with
    ``(seed, fold)``); the rest is ``train``.
    """
    if not 0 <= fold < n_folds:
        raise ValueError(f'fold must be in [0, {n_folds}), got {fold}')
    ids = table.image_ids
    labels = [s.label for s in table.samples]
    folds = stratified_folds(labels, n_folds, seed, ids)
    pool = [i for i in range(len(ids)) if folds[i] != fold]
    val = validation_part([labels[i] for i in pool], [ids[i] for i in pool],
                          val_ratio, seed=[int(seed), int(fold)])
    val_ids = {ids[pool[i]] for i in val}
    return {
        image_id: ('test' if folds[i] == fold else
                   'val' if image_id in val_ids else 'train')
        for i, image_id in enumerate(ids)
    }


def split_file_name(fold: int, n_folds: int, val_ratio: float,
                    seed: int) -> str:
    """``cv5-val20_seed0_fold0.csv``."""
    return (f'cv{n_folds}-val{round(val_ratio * 100, 4):g}_seed{int(seed)}'
            f'_fold{fold}.csv')


def split_file_path(data_root: str, fold: int, n_folds: int,
                    val_ratio: float, seed: int) -> str:
    """Where :func:`write_cv_split_files` puts the split file of a fold."""
    return osp.join(
        osp.abspath(data_root), SPLIT_DIR,
        split_file_name(fold, n_folds, val_ratio, seed))


def write_cv_split_files(table: AnnotationTable, data_root: str,
                         n_folds: int = 5, val_ratio: float = 0.2,
                         seed: int = 0) -> List[str]:
    """Write the split file (``image_id,group,label,split``) of every fold
    under ``<data_root>/cv_splits/`` and return their paths (fold order).

    Files are rewritten every time (they are deterministic), after the
    assignment has passed the project's own validation
    (:func:`lmfloss_mm.datasets.splits.check_assignment`).
    """
    paths = []
    for fold in range(n_folds):
        assignment = cv_assignment(table, fold, n_folds, val_ratio, seed)
        check_assignment(table, assignment, f'fold {fold}')
        path = split_file_path(data_root, fold, n_folds, val_ratio, seed)
        write_split_file(path, table, assignment)
        paths.append(path)
    return paths
