"""ISIC 2019 Challenge, Task 1 (training set, 8 classes)."""
from typing import List, Optional

from mmpretrain.registry import DATASETS

from .base import SplitImageDataset
from .utils import (AnnotationError, AnnotationTable, Sample, check_header,
                    check_unique_ids, find_annotation_file, list_some,
                    one_hot_index, read_table, strip_image_extension)

ISIC2019_CLASSES = ('MEL', 'NV', 'BCC', 'AK', 'BKL', 'DF', 'VASC', 'SCC')
ISIC2019_GT_HEADER = 'image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK'
ISIC2019_METADATA_HEADER = 'image,age_approx,anatom_site_general,lesion_id,sex'
ISIC2019_GT_NAME = 'ISIC_2019_Training_GroundTruth.csv'
ISIC2019_METADATA_NAME = 'ISIC_2019_Training_Metadata.csv'
DOWNSAMPLED_SUFFIX = '_downsampled'

ISIC2019_TREE = """\
data/ISIC2019/                              <- data_root
├── ISIC_2019_Training_GroundTruth.csv
├── ISIC_2019_Training_Metadata.csv
└── ISIC_2019_Training_Input/ISIC_*.jpg     (25,331 images, found
                                             recursively; Kaggle nests them:
    ISIC_2019_Training_Input/ISIC_2019_Training_Input/*.jpg)"""


def read_isic2019_annotations(gt_file: str,
                              metadata_file: Optional[str] = None,
                              exclude_ham10000: bool = False
                              ) -> AnnotationTable:
    """Parse the ISIC 2019 training ground truth (and metadata) without
    reading images.

    The ground truth is one-hot (``image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK``;
    values parsed as floats, ``UNK`` optional); every row must have exactly
    one 1, and ``UNK`` (no training image has it) is an error.  Groups are
    the metadata's ``lesion_id``, or the image id when it is empty.

    Args:
        gt_file (str): ``ISIC_2019_Training_GroundTruth.csv``.
        metadata_file (str, optional): ``ISIC_2019_Training_Metadata.csv``
            (needs ``image`` and ``lesion_id``; every ground-truth image must
            have a row).  Without it every image is its own group.
        exclude_ham10000 (bool): Drop the images whose ``lesion_id`` starts
            with ``HAM_`` (the 10,015 HAM10000 images); they are recorded in
            ``AnnotationTable.excluded``.  Needs ``metadata_file``.
            Defaults to False.

    Returns:
        AnnotationTable: Labels in :data:`ISIC2019_CLASSES` order.
    """
    header, rows = read_table(gt_file)
    columns = list(ISIC2019_CLASSES)
    col = check_header(gt_file, header, ['image'] + columns,
                       ISIC2019_GT_HEADER)
    if 'UNK' in col:
        columns.append('UNK')
    samples = []
    for line, row in enumerate(rows, start=2):
        image_id = strip_image_extension(row[col['image']])
        values = [row[col[c]] if col[c] < len(row) else '' for c in columns]
        index = one_hot_index(values, columns, gt_file, line, image_id)
        if columns[index] == 'UNK':
            raise AnnotationError(
                f'{gt_file}, line {line} ({image_id}) is labelled UNK. The '
                'ISIC 2019 training set has no UNK image, so this is not the '
                f'training ground truth ({ISIC2019_GT_NAME}).')
        samples.append(Sample(image_id, index, image_id))
    check_unique_ids(gt_file, (s.image_id for s in samples))

    source = gt_file
    excluded = {}
    if metadata_file:
        lesions = _read_lesion_ids(metadata_file)
        missing = [s.image_id for s in samples if s.image_id not in lesions]
        if missing:
            raise AnnotationError(
                f'{metadata_file} has no row for {len(missing)} image(s) of '
                f'{gt_file}: {list_some(missing)}. Use the metadata file '
                'that belongs to this ground truth.')
        samples = [
            s._replace(group=lesions[s.image_id] or s.image_id)
            for s in samples
        ]
        source = f'{gt_file} + {metadata_file}'
        if exclude_ham10000:
            ham = [s.image_id for s in samples
                   if lesions[s.image_id].startswith('HAM_')]
            excluded['HAM10000 image (lesion_id HAM_*, '
                     'exclude_ham10000=True)'] = ham
            ham = set(ham)
            samples = [s for s in samples if s.image_id not in ham]
    elif exclude_ham10000:
        raise AnnotationError(
            'exclude_ham10000=True needs the metadata file '
            f'({ISIC2019_METADATA_NAME}): HAM10000 images are recognised by '
            'their lesion_id (HAM_*).')
    return AnnotationTable(
        ISIC2019_CLASSES, samples, source=source, excluded=excluded)


def _read_lesion_ids(path: str) -> dict:
    header, rows = read_table(path)
    col = check_header(path, header, ('image', 'lesion_id'),
                       ISIC2019_METADATA_HEADER)
    return {
        strip_image_extension(row[col['image']]):
        (row[col['lesion_id']] if col['lesion_id'] < len(row) else '')
        for row in rows
    }


@DATASETS.register_module()
class ISIC2019(SplitImageDataset):
    """ISIC 2019 Challenge training set (Task 1), 8 classes.

    Download (see ``docs/datasets.md``): https://challenge.isic-archive.com/
    data/#2019 or Kaggle ``andrewmvd/isic-2019``.  Expected layout::

        data/ISIC2019/                            <- data_root
        ├── ISIC_2019_Training_GroundTruth.csv
        ├── ISIC_2019_Training_Metadata.csv
        └── ISIC_2019_Training_Input/ISIC_*.jpg   (found recursively; the
                                                   Kaggle copy is nested twice)

    Labels are the argmax of the one-hot ground truth, in the order
    ``MEL, NV, BCC, AK, BKL, DF, VASC, SCC``.  Ids with ``_downsampled`` are
    matched with or without that suffix on disk.  Splits are grouped by
    ``lesion_id`` (the image id where it is empty).

    .. note:: ISIC 2019 contains all 10,015 HAM10000 images.  Use
       ``exclude_ham10000=True`` when a model is also evaluated on HAM10000.

    Args:
        data_root (str): Root folder of the unpacked dataset.
        split (str): ``'train'``, ``'val'``, ``'test'`` or ``'all'``.
            Defaults to ``'train'``.
        ann_file (str): Ground-truth CSV; ``''`` finds
            ``ISIC_2019_Training_GroundTruth.csv``. Defaults to ``''``.
        metadata_file (str): Metadata CSV (lesion ids, required);
            ``''`` finds ``ISIC_2019_Training_Metadata.csv``.
            Defaults to ``''``.
        exclude_ham10000 (bool): Drop the images whose lesion id starts with
            ``HAM_`` (logged with their number). Defaults to False.
        **kwargs: Other arguments of :class:`SplitImageDataset`
            (``split_file``, ``split_ratios``, ``split_seed``, ``pipeline``,
            ...) and of :class:`mmpretrain.datasets.BaseDataset`.
    """

    METAINFO = dict(classes=ISIC2019_CLASSES)
    DATASET_KEY = 'isic2019'
    EXPECTED_TREE = ISIC2019_TREE

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = '',
                 *,
                 metadata_file: str = '',
                 exclude_ham10000: bool = False,
                 **kwargs):
        self.metadata_file = metadata_file
        self.exclude_ham10000 = bool(exclude_ham10000)
        super().__init__(data_root, split, ann_file, **kwargs)

    @property
    def split_key(self) -> str:
        return 'isic2019_noham10000' if self.exclude_ham10000 else 'isic2019'

    def load_annotations(self) -> AnnotationTable:
        index = self.directory_index()
        gt_file = self.ann_file or find_annotation_file(
            index, (ISIC2019_GT_NAME, ), 'ground-truth CSV',
            self.dataset_name, self.EXPECTED_TREE)
        metadata_file = self.resolve_path(
            self.metadata_file) or find_annotation_file(
                index, (ISIC2019_METADATA_NAME, ),
                'metadata CSV (needed for the lesion ids)', self.dataset_name,
                self.EXPECTED_TREE)
        return read_isic2019_annotations(gt_file, metadata_file,
                                         self.exclude_ham10000)

    def image_aliases(self, image_id: str) -> List[str]:
        if image_id.endswith(DOWNSAMPLED_SUFFIX):
            return [image_id[:-len(DOWNSAMPLED_SUFFIX)]]
        return [image_id + DOWNSAMPLED_SUFFIX]

    def image_priority(self, relpath: str) -> int:
        return 1 if 'test' in relpath.lower() else 0

    def missing_images_hint(self) -> str:
        return 'Unpack ISIC_2019_Training_Input.zip under the data root.'

    def extra_repr(self) -> List[str]:
        body = super().extra_repr()
        body.append(f'Exclude HAM10000: \t{self.exclude_ham10000}')
        return body
