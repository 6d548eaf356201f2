"""HAM10000 (Tschandl et al., Sci. Data 5, 180161, 2018) and the ISIC 2018
Task 3 held-out sets."""
from typing import List

from mmpretrain.registry import DATASETS

from .base import SplitImageDataset
from .utils import (AnnotationError, AnnotationTable, Sample, check_header,
                    check_unique_ids, find_annotation_file, one_hot_index,
                    read_table, strip_image_extension)

HAM10000_CLASSES = ('akiec', 'bcc', 'bkl', 'df', 'mel', 'nv', 'vasc')
#: ISIC 2018 Task 3 one-hot column -> HAM10000 ``dx``.
ISIC2018_COLUMNS = {
    'MEL': 'mel',
    'NV': 'nv',
    'BCC': 'bcc',
    'AKIEC': 'akiec',
    'BKL': 'bkl',
    'DF': 'df',
    'VASC': 'vasc'
}
HAM10000_HEADERS = (
    'lesion_id,image_id,dx,dx_type,age,sex,localization',  # Kaggle
    'lesion_id,image_id,dx,dx_type,age,sex,localization,dataset',  # Dataverse
)
ISIC2018_GT_HEADER = 'image,MEL,NV,BCC,AKIEC,BKL,DF,VASC'
HAM10000_METADATA_NAMES = ('HAM10000_metadata.csv', 'HAM10000_metadata.tab',
                           'HAM10000_metadata')
ISIC2018_GT_STEMS = {
    'isic2018_val': 'ISIC2018_Task3_Validation_GroundTruth',
    'isic2018_test': 'ISIC2018_Task3_Test_GroundTruth',
}

HAM10000_TREE = """\
data/HAM10000/                        <- data_root
├── HAM10000_metadata.csv             (or .tab, or no extension)
├── HAM10000_images_part_1/*.jpg      (any sub-folders: images are found
├── HAM10000_images_part_2/*.jpg       recursively by image id)
├── ISIC2018_Task3_Validation_Input/*.jpg      optional: split='isic2018_val'
├── ISIC2018_Task3_Validation_GroundTruth.csv  (in any sub-folder)
├── ISIC2018_Task3_Test_Input/*.jpg            optional: split='isic2018_test'
└── ISIC2018_Task3_Test_GroundTruth.csv        (in any sub-folder)"""


def read_ham10000_annotations(path: str) -> AnnotationTable:
    """Parse ``HAM10000_metadata`` without reading images.

    Accepts the Kaggle file (7 columns), the Harvard Dataverse file (8
    columns, ``dataset`` last) as comma-separated text with or without the
    ``.csv`` extension or as a tab-separated ``.tab`` file, and ids with a
    ``.jpg`` suffix.  Labels come from ``dx`` (class order
    :data:`HAM10000_CLASSES`), groups from ``lesion_id`` (the image id when
    empty).

    Args:
        path (str): The metadata file.

    Returns:
        AnnotationTable: One sample per row.

    Raises:
        AnnotationError: Unexpected header, a row without ``dx``, an unknown
        ``dx`` or repeated image ids.
    """
    header, rows = read_table(path)
    col = check_header(path, header, ('lesion_id', 'image_id', 'dx'),
                       HAM10000_HEADERS)
    samples = []
    for line, row in enumerate(rows, start=2):
        row = row + [''] * (len(header) - len(row))
        image_id = strip_image_extension(row[col['image_id']])
        dx = row[col['dx']].lower()
        if not image_id:
            raise AnnotationError(f'{path}, line {line}: empty image_id.')
        if not dx:
            raise AnnotationError(
                f'{path}, line {line} ({image_id}) has no label (empty dx).')
        if dx not in HAM10000_CLASSES:
            raise AnnotationError(
                f'{path}, line {line} ({image_id}): unknown dx {dx!r}; '
                f'expected one of {", ".join(HAM10000_CLASSES)}.')
        group = row[col['lesion_id']] or image_id
        samples.append(Sample(image_id, HAM10000_CLASSES.index(dx), group))
    check_unique_ids(path, (s.image_id for s in samples))
    return AnnotationTable(HAM10000_CLASSES, samples, source=path)


def read_isic2018_task3_gt(path: str) -> AnnotationTable:
    """Parse an ISIC 2018 Task 3 ground-truth file (HAM10000 classes).

    The official one-hot file (``image,MEL,NV,BCC,AKIEC,BKL,DF,VASC``, float
    values) is detected by its header; a file with HAM-style columns
    (``lesion_id,image_id,dx,...``, as in the Dataverse copy) is read with
    :func:`read_ham10000_annotations`.  Groups are image ids (no lesion ids
    are published for these sets) unless the file has ``lesion_id``.

    Args:
        path (str): The ground-truth file.

    Returns:
        AnnotationTable: One sample per row, labels in
        :data:`HAM10000_CLASSES` order.
    """
    header, rows = read_table(path)
    if 'dx' in header and 'image_id' in header:
        return read_ham10000_annotations(path)
    col = check_header(path, header, ['image'] + list(ISIC2018_COLUMNS),
                       (ISIC2018_GT_HEADER, HAM10000_HEADERS[1]))
    columns = list(ISIC2018_COLUMNS)
    samples = []
    for line, row in enumerate(rows, start=2):
        image_id = strip_image_extension(row[col['image']])
        values = [row[col[c]] if col[c] < len(row) else '' for c in columns]
        index = one_hot_index(values, columns, path, line, image_id)
        label = HAM10000_CLASSES.index(ISIC2018_COLUMNS[columns[index]])
        samples.append(Sample(image_id, label, image_id))
    check_unique_ids(path, (s.image_id for s in samples))
    return AnnotationTable(HAM10000_CLASSES, samples, source=path)


@DATASETS.register_module()
class HAM10000(SplitImageDataset):
    """HAM10000 dermoscopy dataset, 7 classes.

    Download (see ``docs/datasets.md``): Harvard Dataverse
    doi:10.7910/DVN/DBW86T or Kaggle ``kmader/skin-cancer-mnist-ham10000``.
    Expected layout (only the metadata file and the images are needed)::

        data/HAM10000/                          <- data_root
        ├── HAM10000_metadata.csv               (or .tab / no extension)
        ├── HAM10000_images_part_1/ISIC_*.jpg   (Kaggle's lower-case copies
        ├── HAM10000_images_part_2/ISIC_*.jpg    are de-duplicated by id)
        ├── ISIC2018_Task3_Validation_Input/     optional
        └── ISIC2018_Task3_Test_Input/           optional, + GroundTruth CSVs

    Labels are ``dx`` in the order ``akiec, bcc, bkl, df, mel, nv, vasc``.
    ``train``/``val``/``test`` come from a split grouped by ``lesion_id``
    and stratified by class (see :mod:`lmfloss_mm.datasets.splits`).

    Args:
        data_root (str): Root folder of the unpacked dataset.
        split (str): ``'train'``, ``'val'``, ``'test'``, ``'all'`` (all
            10,015 images, the ISIC 2018 Task 3 training set),
            ``'isic2018_val'`` (193 images) or ``'isic2018_test'`` (1,512
            images).  The last two read the official one-hot ground truth
            and need no metadata file.  Defaults to ``'train'``.
        ann_file (str): The metadata file; ``''`` finds
            ``HAM10000_metadata{.csv,.tab,}`` under ``data_root``.  Not used
            by the ``isic2018_*`` splits (an error there; see
            ``isic2018_val_gt`` / ``isic2018_test_gt``).  Defaults to ``''``.
        isic2018_val_gt (str): ISIC 2018 Task 3 validation ground truth;
            ``''`` finds ``ISIC2018_Task3_Validation_GroundTruth{.csv,.tab,}``
            under ``data_root``. Defaults to ``''``.
        isic2018_test_gt (str): Same for the test set
            (``ISIC2018_Task3_Test_GroundTruth``). Defaults to ``''``.
        **kwargs: Other arguments of :class:`SplitImageDataset`
            (``split_file``, ``split_ratios``, ``split_seed``, ``pipeline``,
            ...; ``split_file`` only for ``train``/``val``/``test``) and of
            :class:`mmpretrain.datasets.BaseDataset`.

    Examples:
        >>> from lmfloss_mm.datasets import HAM10000
        >>> train = HAM10000('data/HAM10000', split='train')
        >>> test = HAM10000('data/HAM10000', split='isic2018_test')
    """

    METAINFO = dict(classes=HAM10000_CLASSES)
    DATASET_KEY = 'ham10000'
    SPLITS = SplitImageDataset.SPLITS + tuple(ISIC2018_GT_STEMS)
    EXPECTED_TREE = HAM10000_TREE

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = '',
                 *,
                 isic2018_val_gt: str = '',
                 isic2018_test_gt: str = '',
                 **kwargs):
        if ann_file and split in ISIC2018_GT_STEMS:
            raise ValueError(
                f'HAM10000: ann_file={ann_file!r} (the HAM10000 metadata) is '
                f'not used by split={split!r}, which reads the ISIC 2018 '
                f'ground truth. Pass that file as {split}_gt=... instead.')
        self.isic2018_gt = dict(
            isic2018_val=isic2018_val_gt, isic2018_test=isic2018_test_gt)
        super().__init__(data_root, split, ann_file, **kwargs)

    def annotation_path(self) -> str:
        """The metadata file (or the ISIC 2018 ground truth for the official
        splits) that this instance reads."""
        if self.split in ISIC2018_GT_STEMS:
            given = self.isic2018_gt[self.split]
            if given:
                return self.resolve_path(given)
            stem = ISIC2018_GT_STEMS[self.split]
            return find_annotation_file(
                self.directory_index(), (stem + '.csv', stem + '.tab', stem),
                f'{stem} file', self.dataset_name, self.EXPECTED_TREE)
        if self.ann_file:
            return self.ann_file
        return find_annotation_file(self.directory_index(),
                                    HAM10000_METADATA_NAMES, 'metadata file',
                                    self.dataset_name, self.EXPECTED_TREE)

    def load_annotations(self) -> AnnotationTable:
        path = self.annotation_path()
        if self.split in ISIC2018_GT_STEMS:
            return read_isic2018_task3_gt(path)
        return read_ham10000_annotations(path)

    def select_samples(self, table: AnnotationTable) -> List[Sample]:
        if self.split in ISIC2018_GT_STEMS:
            return list(table.samples)
        return super().select_samples(table)

    def missing_images_hint(self) -> str:
        if self.split in ISIC2018_GT_STEMS:
            folder = ('ISIC2018_Task3_Validation_Input' if self.split
                      == 'isic2018_val' else 'ISIC2018_Task3_Test_Input')
            return f'Unpack {folder}.zip under the data root.'
        return ('Unpack HAM10000_images_part_1.zip and '
                'HAM10000_images_part_2.zip under the data root.')
