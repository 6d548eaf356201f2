"""Datasets: HAM10000, ISIC 2019, ODIR-5K and any image folder with an
annotation CSV (``CSVImageDataset``), registered in
``mmpretrain.registry.DATASETS``; their annotation readers, the grouped
split and synthetic fixtures in the official layouts."""
from .base import SplitImageDataset
from .csv_dataset import CSVImageDataset, read_image_csv
from .data_check import (DataCheckError, DataCheckReport, check_config,
                         check_datasets)
from .ham10000 import (HAM10000, HAM10000_CLASSES, read_ham10000_annotations,
                       read_isic2018_task3_gt)
from .isic2019 import ISIC2019, ISIC2019_CLASSES, read_isic2019_annotations
from .labels import (check_class_counts, count_classes, count_labels,
                     dataset_classes, dataset_labels, unwrap_dataset)
from .odir5k import (ODIR5K, ODIR5K_CLASSES, ODIR_KEYWORD_TO_CLASS,
                     ODIR_NON_FUNDUS_KEYWORDS, ODIR_QUALITY_KEYWORDS,
                     keyword_label, read_odir5k_annotations, split_keywords)
from .samplers import (ClassAwareSampler, ClassBalancedSampler, SqrtSampler,
                       index_labels)
from .splits import (check_assignment, format_split_counts,
                     make_grouped_split, read_split_file, resolve_split,
                     split_class_counts, write_split_file)
from .image_cache import ImageCache, ImageCacheError
from .transforms import LoadEyePair, LoadReducedImageFromFile
from .image_check import (ImageLoadError, check_image, read_exclude_file,
                          write_exclude_file)
from .synthetic import (make_fake_ham10000, make_fake_image_csv,
                        make_fake_isic2019, make_fake_odir5k)
from .utils import (AnnotationError, AnnotationTable, DatasetLayoutError,
                    Sample, SplitFileError)

__all__ = [
    'SplitImageDataset', 'CSVImageDataset', 'read_image_csv',
    'make_fake_image_csv', 'HAM10000', 'ISIC2019', 'ODIR5K', 'HAM10000_CLASSES',
    'ISIC2019_CLASSES', 'ODIR5K_CLASSES', 'ODIR_KEYWORD_TO_CLASS',
    'ODIR_QUALITY_KEYWORDS', 'ODIR_NON_FUNDUS_KEYWORDS',
    'read_ham10000_annotations', 'read_isic2018_task3_gt',
    'read_isic2019_annotations', 'read_odir5k_annotations', 'keyword_label',
    'split_keywords', 'make_grouped_split', 'resolve_split',
    'read_split_file', 'write_split_file', 'check_assignment',
    'split_class_counts', 'format_split_counts', 'make_fake_ham10000',
    'make_fake_isic2019', 'make_fake_odir5k', 'AnnotationTable', 'Sample',
    'AnnotationError', 'DatasetLayoutError', 'SplitFileError', 'LoadEyePair',
    'ClassBalancedSampler', 'ClassAwareSampler', 'SqrtSampler', 'index_labels',
    'check_class_counts', 'count_classes', 'count_labels', 'dataset_classes',
    'dataset_labels', 'unwrap_dataset',
    'DataCheckError', 'DataCheckReport', 'check_config', 'check_datasets',
    'ImageLoadError', 'check_image', 'read_exclude_file', 'write_exclude_file',
    'ImageCache', 'ImageCacheError', 'LoadReducedImageFromFile'
]
