"""Tiny synthetic copies of HAM10000, ISIC 2019 and ODIR-5K in their official
layouts (exact headers, file names and folder names), for tests and demos.

Each ``make_fake_*`` function writes small JPEG images plus the annotation
files into ``root`` and returns ``root`` as a :class:`pathlib.Path`.  The
defaults are small and imbalanced but give every class at least three
groups (lesions / patients), so every class can occur in every split.

``draw(class_index, rng, image_size) -> np.ndarray`` (``HxWx3`` uint8) may
paint class-dependent content; the default is random noise with a faint
class-dependent tint.
"""
import csv
import shutil
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
from PIL import Image

from .ham10000 import HAM10000_CLASSES, ISIC2018_COLUMNS
from .isic2019 import ISIC2019_CLASSES
from .odir5k import (KAGGLE_FULL_DF_COLUMNS, ODIR5K_CLASSES,
                     ODIR_ANNOTATION_COLUMNS, ODIR_KEYWORD_TO_CLASS,
                     ODIR_NON_FUNDUS_KEYWORDS, ODIR_QUALITY_KEYWORDS,
                     keyword_label, split_keywords)

DrawFn = Callable[[int, np.random.Generator, int], np.ndarray]

HAM10000_DEFAULT_COUNTS = dict(
    akiec=6, bcc=8, bkl=12, df=4, mel=12, nv=40, vasc=4)
ISIC2019_DEFAULT_COUNTS = dict(
    MEL=10, NV=24, BCC=8, AK=4, BKL=8, DF=3, VASC=3, SCC=4)
ODIR5K_DEFAULT_COUNTS = dict(N=28, D=14, O=8, C=5, G=5, A=4, M=4, H=3)

HAM10000_METADATA_FORMATS = ('kaggle', 'dataverse_csv', 'dataverse_tab',
                             'dataverse_noext')
HAM10000_IMAGE_FOLDERS = ('parts', 'single', 'kaggle_duplicates')


def default_draw(class_index: int, rng: np.random.Generator,
                 image_size: int) -> np.ndarray:
    """Random noise with a faint class-dependent tint (``HxWx3`` uint8)."""
    noise = rng.integers(0, 256, (image_size, image_size, 3))
    angle = 2 * np.pi * class_index / 8
    tint = 127.5 * (1 + np.cos(angle + np.array([0, 2, 4]) * np.pi / 3))
    return (0.85 * noise + 0.15 * tint).astype(np.uint8)


def _save_image(path: Path, class_index: int, rng: np.random.Generator,
                image_size: int, draw: Optional[DrawFn]) -> None:
    array = (draw or default_draw)(class_index, rng, image_size)
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError('draw() must return an HxWx3 uint8 array, got '
                         f'{array.dtype} {array.shape}.')
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=90)


def _check_counts(counts: Optional[Mapping[str, int]],
                  defaults: Dict[str, int],
                  classes: Sequence[str]) -> Dict[str, int]:
    counts = dict(defaults if counts is None else counts)
    unknown = sorted(set(counts) - set(classes))
    if unknown:
        raise ValueError(f'Unknown class(es) {unknown} in counts; classes '
                         f'are {", ".join(classes)}.')
    if any(int(n) < 0 for n in counts.values()):
        raise ValueError('counts must be non-negative.')
    return {c: int(counts.get(c, 0)) for c in classes}


def _lesion_sizes(n: int, max_size: int,
                  rng: np.random.Generator) -> List[int]:
    """Random group sizes (1..max_size) summing to n; at least
    ``min(3, n)`` groups."""
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, max(1, max_size) + 1)))
    if sizes:
        sizes[-1] -= sum(sizes) - n
    sizes = [s for s in sizes if s > 0]
    if len(sizes) < min(3, n):
        sizes = [1] * n
    return sizes


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence],
               delimiter: str = ',', quoting: int = csv.QUOTE_MINIMAL) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f, delimiter=delimiter, quoting=quoting)
        writer.writerow(header)
        writer.writerows(rows)


def _one_hot(index: int, n: int) -> List[str]:
    return ['1.0' if i == index else '0.0' for i in range(n)]


def _isic2018_gt(root: Path, stage: str, counts: Mapping[str, int],
                 first_id: int, image_size: int, rng: np.random.Generator,
                 draw: Optional[DrawFn]) -> None:
    """Write ``ISIC2018_Task3_<stage>_Input/`` and its one-hot GT."""
    counts = _check_counts(counts, {}, HAM10000_CLASSES)
    labels = [c for c in HAM10000_CLASSES for _ in range(counts[c])]
    labels = [labels[i] for i in rng.permutation(len(labels))]
    columns = list(ISIC2018_COLUMNS)
    input_dir = root / f'ISIC2018_Task3_{stage}_Input'
    input_dir.mkdir(parents=True, exist_ok=True)
    (input_dir / 'LICENSE.txt').write_text('CC BY-NC 4.0 (synthetic)\n')
    (input_dir / 'ATTRIBUTION.txt').write_text('synthetic test data\n')
    rows = []
    for k, dx in enumerate(labels):
        image_id = f'ISIC_{first_id + k:07d}'
        _save_image(input_dir / f'{image_id}.jpg',
                    HAM10000_CLASSES.index(dx), rng, image_size, draw)
        column = [c for c, v in ISIC2018_COLUMNS.items() if v == dx][0]
        rows.append([image_id] +
                    _one_hot(columns.index(column), len(columns)))
    gt_name = f'ISIC2018_Task3_{stage}_GroundTruth'
    _write_csv(root / gt_name / f'{gt_name}.csv', ['image'] + columns, rows)


def make_fake_ham10000(root,
                       counts: Optional[Mapping[str, int]] = None,
                       image_size: int = 32,
                       seed: int = 0,
                       images_per_lesion: int = 3,
                       draw: Optional[DrawFn] = None,
                       metadata_format: str = 'kaggle',
                       image_folders: str = 'parts',
                       jpg_ids: bool = False,
                       isic2018_val_counts: Optional[Mapping[str,
                                                             int]] = None,
                       isic2018_test_counts: Optional[Mapping[str,
                                                              int]] = None
                       ) -> Path:
    """Write a fake HAM10000 in one of its distributed layouts.

    Args:
        root (str | Path): Output folder (the data root).
        counts (Mapping[str, int], optional): Images per ``dx`` class.
            Defaults to :data:`HAM10000_DEFAULT_COUNTS` (86 images).
        image_size (int): Side of the square JPEGs. Defaults to 32.
        seed (int): Seed of everything random. Defaults to 0.
        images_per_lesion (int): Largest number of images of one lesion
            (sizes are drawn from 1..this). Defaults to 3.
        draw (callable, optional): ``draw(class_index, rng, image_size)``
            -> ``HxWx3`` uint8 array. Defaults to :func:`default_draw`.
        metadata_format (str): ``'kaggle'`` (``HAM10000_metadata.csv``, 7
            columns), ``'dataverse_csv'`` (same name, 8 columns),
            ``'dataverse_tab'`` (``HAM10000_metadata.tab``, tab-separated,
            quoted strings) or ``'dataverse_noext'`` (``HAM10000_metadata``,
            comma-separated). Defaults to ``'kaggle'``.
        image_folders (str): ``'parts'`` (``HAM10000_images_part_1/`` and
            ``_part_2/``), ``'single'`` (``ISIC2018_Task3_Training_Input/``)
            or ``'kaggle_duplicates'`` (parts plus Kaggle's lower-case
            copies ``ham10000_images_part_{1,2}/``). Defaults to ``'parts'``.
        jpg_ids (bool): Write ``image_id`` with a ``.jpg`` suffix, like some
            re-shared copies. Defaults to False.
        isic2018_val_counts (Mapping[str, int], optional): If given, also
            write ``ISIC2018_Task3_Validation_Input/`` and
            ``ISIC2018_Task3_Validation_GroundTruth/...csv`` with these
            images per class.
        isic2018_test_counts (Mapping[str, int], optional): Same for the
            ISIC 2018 Task 3 test set.

    Returns:
        Path: ``root``.
    """
    if metadata_format not in HAM10000_METADATA_FORMATS:
        raise ValueError('metadata_format must be one of '
                         f'{HAM10000_METADATA_FORMATS}, '
                         f'got {metadata_format!r}')
    if image_folders not in HAM10000_IMAGE_FOLDERS:
        raise ValueError(f'image_folders must be one of '
                         f'{HAM10000_IMAGE_FOLDERS}, got {image_folders!r}')
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    counts = _check_counts(counts, HAM10000_DEFAULT_COUNTS, HAM10000_CLASSES)
    rng = np.random.default_rng(seed)

    # (dx, lesion_id) per image, lesions of random size within a class
    images = []
    lesion_numbers = iter(rng.permutation(9000) + 1)
    for dx in HAM10000_CLASSES:
        for size in _lesion_sizes(counts[dx], images_per_lesion, rng):
            lesion = f'HAM_{next(lesion_numbers):07d}'
            images += [(dx, lesion)] * size
    order = rng.permutation(len(images))
    dataverse = metadata_format != 'kaggle'
    sites = ('back', 'lower extremity', 'trunk', 'face', 'abdomen', 'scalp')
    rows, files = [], []
    for k, i in enumerate(order):
        dx, lesion = images[i]
        image_id = f'ISIC_{24306 + k:07d}'
        files.append((image_id, dx))
        age = '' if rng.random() < 0.05 else 5 * int(rng.integers(0, 18))
        if dataverse and age != '':
            age = float(age)
        row = [
            lesion, image_id + ('.jpg' if jpg_ids else ''), dx,
            str(rng.choice(['histo', 'follow_up', 'consensus', 'confocal'])),
            age,
            str(rng.choice(['male', 'female', 'unknown'])),
            str(rng.choice(sites))
        ]
        if dataverse:
            row.append(str(rng.choice(['vidir_modern', 'rosendahl',
                                       'vidir_molemax', 'vienna_dias'])))
        rows.append(row)
    rows.sort(key=lambda r: r[0])  # the official file is sorted by lesion
    header = ['lesion_id', 'image_id', 'dx', 'dx_type', 'age', 'sex',
              'localization'] + (['dataset'] if dataverse else [])
    if metadata_format == 'dataverse_tab':
        _write_csv(root / 'HAM10000_metadata.tab', header, rows,
                   delimiter='\t', quoting=csv.QUOTE_NONNUMERIC)
    elif metadata_format == 'dataverse_noext':
        _write_csv(root / 'HAM10000_metadata', header, rows)
    else:
        _write_csv(root / 'HAM10000_metadata.csv', header, rows)

    half = (len(files) + 1) // 2
    for k, (image_id, dx) in enumerate(files):
        if image_folders == 'single':
            folder = 'ISIC2018_Task3_Training_Input'
        else:
            folder = f'HAM10000_images_part_{1 if k < half else 2}'
        path = root / folder / f'{image_id}.jpg'
        _save_image(path, HAM10000_CLASSES.index(dx), rng, image_size, draw)
        if image_folders == 'kaggle_duplicates':
            copy = root / folder.lower() / path.name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
    if isic2018_val_counts:
        _isic2018_gt(root, 'Validation', isic2018_val_counts, 34321,
                     image_size, rng, draw)
    if isic2018_test_counts:
        _isic2018_gt(root, 'Test', isic2018_test_counts, 34524, image_size,
                     rng, draw)
    return root


def make_fake_isic2019(root,
                       counts: Optional[Mapping[str, int]] = None,
                       image_size: int = 32,
                       seed: int = 0,
                       images_per_lesion: int = 3,
                       draw: Optional[DrawFn] = None,
                       kaggle_nested: bool = False,
                       n_ham: int = 12,
                       n_downsampled: int = 3,
                       n_without_lesion: int = 6) -> Path:
    """Write a fake ISIC 2019 training set in the official layout.

    Files: ``ISIC_2019_Training_GroundTruth.csv`` (one-hot floats, with the
    empty ``UNK`` column), ``ISIC_2019_Training_Metadata.csv`` and
    ``ISIC_2019_Training_Input/*.jpg`` (with ``LICENSE.txt``).

    Args:
        root (str | Path): Output folder (the data root).
        counts (Mapping[str, int], optional): Images per class. Defaults to
            :data:`ISIC2019_DEFAULT_COUNTS` (64 images).
        image_size (int): Side of the square JPEGs. Defaults to 32.
        seed (int): Seed of everything random. Defaults to 0.
        images_per_lesion (int): Largest lesion size. Defaults to 3.
        draw (callable, optional): See :func:`make_fake_ham10000`.
        kaggle_nested (bool): Put the images in
            ``ISIC_2019_Training_Input/ISIC_2019_Training_Input/`` like the
            Kaggle mirror. Defaults to False.
        n_ham (int): Images whose lesion id starts with ``HAM_`` (whole
            lesions are chosen, so the number is exact only when enough
            single-image lesions exist; count ``HAM_`` rows in the metadata
            to be sure). Defaults to 12.
        n_downsampled (int): Images named ``ISIC_xxxxxxx_downsampled``
            (in the ground truth and on disk). Defaults to 3.
        n_without_lesion (int): Single-image lesions written with an empty
            ``lesion_id``. Defaults to 6.

    Returns:
        Path: ``root``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    counts = _check_counts(counts, ISIC2019_DEFAULT_COUNTS, ISIC2019_CLASSES)
    rng = np.random.default_rng(seed)
    lesions = []  # [class index, size]
    for c, name in enumerate(ISIC2019_CLASSES):
        lesions += [[c, s] for s in
                    _lesion_sizes(counts[name], images_per_lesion, rng)]
    lesions = [lesions[i] for i in rng.permutation(len(lesions))]
    prefixes, ham_left, no_lesion_left = [], n_ham, n_without_lesion
    for _, size in lesions:
        if 0 < size <= ham_left:
            prefixes.append('HAM_')
            ham_left -= size
        elif size == 1 and no_lesion_left > 0:
            prefixes.append('')
            no_lesion_left -= 1
        else:
            prefixes.append('BCN_' if len(prefixes) % 2 else 'MSK4_')

    numbers = sorted(rng.choice(73255, sum(counts.values()), replace=False))
    numbers = [int(numbers[i]) for i in rng.permutation(len(numbers))]
    downsampled = set(sorted(numbers)[:n_downsampled])
    gt_rows, meta_rows, images = [], [], []
    k = 0
    for n, ((c, size), prefix) in enumerate(zip(lesions, prefixes)):
        lesion = f'{prefix}{n + 1:07d}' if prefix else ''
        for _ in range(size):
            number = numbers[k]
            k += 1
            image_id = f'ISIC_{number:07d}' + ('_downsampled' if number
                                               in downsampled else '')
            images.append((image_id, c))
            gt_rows.append([image_id] + _one_hot(c, 9))
            meta_rows.append([
                image_id,
                5 * int(rng.integers(2, 18)),
                str(rng.choice(['anterior torso', 'lower extremity',
                                'head/neck', 'upper extremity', ''])),
                lesion,
                str(rng.choice(['male', 'female'])),
            ])
    gt_rows.sort()
    meta_rows.sort()
    _write_csv(root / 'ISIC_2019_Training_GroundTruth.csv',
               ['image'] + list(ISIC2019_CLASSES) + ['UNK'], gt_rows)
    _write_csv(root / 'ISIC_2019_Training_Metadata.csv',
               ['image', 'age_approx', 'anatom_site_general', 'lesion_id',
                'sex'], meta_rows)
    folder = root / 'ISIC_2019_Training_Input'
    if kaggle_nested:
        folder = folder / 'ISIC_2019_Training_Input'
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'LICENSE.txt').write_text('CC BY-NC 4.0 (synthetic)\n')
    for image_id, c in images:
        _save_image(folder / f'{image_id}.jpg', c, rng, image_size, draw)
    return root


def _patient_classes(keyword_cells: Sequence[str]) -> List[str]:
    """Patient-level classes implied by both eyes' keywords (for the fake
    N..O columns): mapped keywords, other non-quality keywords count as O,
    N only if nothing else."""
    found = set()
    for cell in keyword_cells:
        for keyword in split_keywords(cell):
            if (keyword in ODIR_QUALITY_KEYWORDS
                    or keyword in ODIR_NON_FUNDUS_KEYWORDS):
                continue
            found.add(ODIR_KEYWORD_TO_CLASS.get(keyword, 'O'))
    if len(found) > 1:
        found.discard('N')
    return [c for c in ODIR5K_CLASSES if c in found]


def make_fake_odir5k(root,
                     counts: Optional[Mapping[str, int]] = None,
                     image_size: int = 32,
                     seed: int = 0,
                     draw: Optional[DrawFn] = None,
                     organisers_annotation: Optional[str] = None) -> Path:
    """Write a fake ODIR-5K in the Kaggle layout.

    Always written: ``full_df.csv`` (the exact Kaggle header; one row per
    image whose *first* keyword maps to a class, as in Kaggle) and
    ``preprocessed_images/{ID}_{left,right}.jpg`` for those rows.

    Patients are built so that every class has at least three patients:
    diseased eyes are paired with a normal eye or with a second eye of the
    same class; some eyes carry a second keyword (joined with ``，``, one
    with ``,``).  Five extra eyes are never in ``full_df.csv``:
    "anterior segment image" and "no fundus image" (non-fundus), "laser
    spot" (unmapped), "lens dust，normal fundus" (Kaggle drops it; the
    default ``per_eye_keywords`` rule labels it N) and "low image quality"
    (only a quality keyword).

    Args:
        root (str | Path): Output folder (the data root).
        counts (Mapping[str, int], optional): Images per class in
            ``full_df.csv``. Defaults to :data:`ODIR5K_DEFAULT_COUNTS`
            (71 images).
        image_size (int): Side of the square JPEGs. Defaults to 32.
        seed (int): Seed of everything random. Defaults to 0.
        draw (callable, optional): See :func:`make_fake_ham10000`.
        organisers_annotation (str, optional): ``'xlsx'`` or ``'csv'`` to
            also write the organisers' per-patient annotation as
            ``ODIR-5K/ODIR-5K/data.xlsx`` (or ``data.csv``) with all images
            in ``ODIR-5K/ODIR-5K/Training Images/``. Defaults to None.

    Returns:
        Path: ``root``.
    """
    if organisers_annotation not in (None, 'xlsx', 'csv'):
        raise ValueError("organisers_annotation must be None, 'xlsx' or "
                         f"'csv', got {organisers_annotation!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    counts = _check_counts(counts, ODIR5K_DEFAULT_COUNTS, ODIR5K_CLASSES)
    rng = np.random.default_rng(seed)
    keywords_of = {
        c: sorted(k for k, v in ODIR_KEYWORD_TO_CLASS.items() if v == c)
        for c in ODIR5K_CLASSES
    }
    n_two_keywords = [0]

    def eye(cls: str) -> str:
        text = str(rng.choice(keywords_of[cls]))
        if cls != 'N' and rng.random() < 0.35:
            second = str(rng.choice(['lens dust', 'drusen', 'cataract']))
            if second != text:
                sep = ',' if n_two_keywords[0] % 5 == 0 else '\uff0c'
                n_two_keywords[0] += 1
                text = f'{text}{sep}{second}'
        return text

    normal_left = counts['N']
    patients = []  # [left keywords, right keywords]
    for cls in ODIR5K_CLASSES[1:]:
        bilateral = max(0, (counts[cls] - 3) // 2)
        patients += [[eye(cls), eye(cls)] for _ in range(bilateral)]
        for _ in range(counts[cls] - 2 * bilateral):
            if normal_left > 0:
                normal_left -= 1
                patients.append([eye(cls), eye('N')])
            else:
                patients.append([eye(cls), 'low image quality'])
    while normal_left >= 2:
        normal_left -= 2
        patients.append([eye('N'), eye('N')])
    if normal_left:
        patients.append([eye('N'), 'low image quality'])
    patients.append(['anterior segment image', 'lens dust\uff0cnormal fundus'])
    patients.append(['laser spot', 'no fundus image'])
    patients = [patients[i] for i in rng.permutation(len(patients))]
    patients = [p if rng.random() < 0.5 else p[::-1] for p in patients]

    organiser_rows, full_df_rows, all_images = [], [], []
    for pid, (left, right) in enumerate(patients):
        age, sex = int(rng.integers(20, 85)), str(
            rng.choice(['Male', 'Female']))
        flags = [int(c in _patient_classes([left, right]))
                 for c in ODIR5K_CLASSES]
        files = [f'{pid}_left.jpg', f'{pid}_right.jpg']
        row = [pid, age, sex, files[0], files[1], left, right] + flags
        organiser_rows.append(row)
        for file_name, keywords in zip(files, (left, right)):
            name, _ = keyword_label(keywords, ignore_keywords=())
            index = ODIR5K_CLASSES.index(name) if name else -1
            all_images.append((file_name, max(index, 0)))
            if name is None:
                continue
            target = [int(i == index) for i in range(len(ODIR5K_CLASSES))]
            full_df_rows.append(row + [
                '../input/ocular-disease-recognition-odir5k/ODIR-5K/'
                f'Training Images/{file_name}', f"['{name}']",
                str(target), file_name
            ])
    _write_csv(root / 'full_df.csv', KAGGLE_FULL_DF_COLUMNS, full_df_rows)
    for row in full_df_rows:
        label = ODIR5K_CLASSES.index(row[-3][2:-2])
        _save_image(root / 'preprocessed_images' / row[-1], label, rng,
                    image_size, draw)
    if organisers_annotation:
        folder = root / 'ODIR-5K' / 'ODIR-5K'
        for file_name, label in all_images:
            _save_image(folder / 'Training Images' / file_name, label, rng,
                        image_size, draw)
        if organisers_annotation == 'csv':
            _write_csv(folder / 'data.csv', ODIR_ANNOTATION_COLUMNS,
                       organiser_rows)
        else:
            import openpyxl
            workbook = openpyxl.Workbook()
            sheet = workbook.active
            sheet.append(list(ODIR_ANNOTATION_COLUMNS))
            for row in organiser_rows:
                sheet.append(row)
            workbook.save(folder / 'data.xlsx')
    return root


#: Label formats of :func:`make_fake_image_csv`.
CSV_LABEL_FORMATS = ('names', 'one_hot')
#: How :func:`make_fake_image_csv` writes the image column.
CSV_ID_STYLES = ('stem', 'filename', 'relpath')


def make_fake_image_csv(root,
                        counts: Mapping[str, int],
                        ann_file: str = 'labels.csv',
                        label_format: str = 'names',
                        image_column: str = 'image',
                        label_column: str = 'label',
                        group_column: Optional[str] = None,
                        images_per_group: int = 3,
                        image_folder: str = 'images',
                        id_style: str = 'stem',
                        id_format: str = 'img_{:05d}',
                        image_size: int = 32,
                        seed: int = 0,
                        draw: Optional[DrawFn] = None) -> Path:
    """Write a fake dataset for :class:`~lmfloss_mm.datasets.CSVImageDataset`:
    JPEGs in ``<root>/<image_folder>/`` and an annotation CSV, rows in
    random order.

    Args:
        root (str | Path): Output folder (the data root).
        counts (Mapping[str, int]): Images per class; the classes are the
            keys, in this order (one-hot columns and class indices).
        ann_file (str): Name of the CSV under ``root``.
            Defaults to ``'labels.csv'``.
        label_format (str): ``'names'`` (one ``label_column`` of class
            names) or ``'one_hot'`` (one column per class, values
            ``1.0``/``0.0`` as in the ISIC ground-truth files).
            Defaults to ``'names'``.
        image_column (str): Header of the image column.
            Defaults to ``'image'``.
        label_column (str): Header of the class-name column.
            Defaults to ``'label'``.
        group_column (str, optional): If given, a column of group ids
            (``p0001``...), each group of one class with 1 to
            ``images_per_group`` images. Defaults to None.
        images_per_group (int): Largest group. Defaults to 3.
        image_folder (str): Folder of the images below ``root``
            (``''``: ``root`` itself). Defaults to ``'images'``.
        id_style (str): The image column holds the file stem (``'stem'``),
            the file name (``'filename'``) or the path relative to ``root``
            (``'relpath'``). Defaults to ``'stem'``.
        id_format (str): Format of the file stems, filled with a running
            number. Defaults to ``'img_{:05d}'``.
        image_size (int): Side of the square JPEGs. Defaults to 32.
        seed (int): Seed of everything random. Defaults to 0.
        draw (callable, optional): See :func:`make_fake_ham10000`.

    Returns:
        Path: ``root``.
    """
    if label_format not in CSV_LABEL_FORMATS:
        raise ValueError(f'label_format must be one of {CSV_LABEL_FORMATS}, '
                         f'got {label_format!r}.')
    if id_style not in CSV_ID_STYLES:
        raise ValueError(f'id_style must be one of {CSV_ID_STYLES}, got '
                         f'{id_style!r}.')
    classes = list(counts)
    counts = _check_counts(counts, {}, classes)
    root = Path(root)
    rng = np.random.default_rng(seed)
    entries = []  # (class index, group)
    for index, name in enumerate(classes):
        sizes = _lesion_sizes(counts[name], images_per_group, rng)
        for size in sizes:
            group = f'p{len({g for _, g in entries}) + 1:04d}'
            entries += [(index, group)] * size
    entries = [entries[i] for i in rng.permutation(len(entries))]
    header = [image_column]
    if group_column:
        header.append(group_column)
    header += classes if label_format == 'one_hot' else [label_column]
    rows = []
    for number, (index, group) in enumerate(entries):
        stem = id_format.format(number)
        relpath = Path(image_folder) / f'{stem}.jpg'
        _save_image(root / relpath, index, rng, image_size, draw)
        image = dict(stem=stem, filename=relpath.name,
                     relpath=relpath.as_posix())[id_style]
        row = [image] + ([group] if group_column else [])
        row += (_one_hot(index, len(classes)) if label_format == 'one_hot'
                else [classes[index]])
        rows.append(row)
    _write_csv(root / ann_file, header, rows)
    return root


def textured_image(width: int, height: int, rng: np.random.Generator,
                   grain: float = 8.0) -> np.ndarray:
    """A photograph-like ``height x width x 3`` uint8 image: skin-coloured
    variation at several scales, a dark irregular blob, a few thin dark
    lines (hairs) and fine grain, so that it compresses and decodes like a
    dermoscopy or fundus photograph rather than flat colour or white noise.

    Args:
        width (int): Image width.
        height (int): Image height.
        rng (np.random.Generator): Source of randomness.
        grain (float): Std of the per-pixel noise. Defaults to 8.

    Returns:
        np.ndarray: The RGB image.
    """
    from PIL import ImageDraw

    def smooth(scale: int, channels: int) -> np.ndarray:
        small = rng.normal(0, 1, (max(2, height // scale),
                                  max(2, width // scale), channels))
        layers = [
            np.asarray(Image.fromarray(small[..., c].astype(np.float32),
                                       mode='F').resize((width, height),
                                                        Image.BICUBIC))
            for c in range(channels)
        ]
        return np.stack(layers, axis=-1)

    image = np.array([205.0, 150.0, 130.0]) + sum(
        smooth(scale, 3) * (30.0 / (1 + np.log2(scale)))
        for scale in (8, 32, 128))
    yy, xx = np.mgrid[0:height, 0:width]
    cx, cy = width * rng.uniform(0.35, 0.65), height * rng.uniform(0.35, 0.65)
    radius = min(width, height) * rng.uniform(0.2, 0.35)
    distance = np.hypot((xx - cx) / 1.3, yy - cy) / radius
    blob = distance + 0.25 * smooth(16, 1)[..., 0] < 1
    image[blob] = image[blob] * 0.45 + smooth(4, 3)[blob] * 12
    canvas = Image.fromarray(
        np.clip(image + rng.normal(0, grain, image.shape), 0,
                255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(2, 7))):
        points = [(float(rng.uniform(0, width)), float(rng.uniform(
            0, height))) for _ in range(3)]
        draw.line(points, fill=(40, 30, 25),
                  width=max(1, min(width, height) // 300))
    return np.asarray(canvas)
