"""ODIR-5K (Ocular Disease Intelligent Recognition) fundus photographs."""
import ast
import logging
import re
from collections import Counter
from functools import partial
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from . import transforms  # noqa: F401  (registers LoadEyePair)
from .base import SplitImageDataset
from .utils import (AnnotationError, AnnotationTable, Sample, binary_flags,
                    check_header, check_unique_ids, find_annotation_file,
                    list_some, read_table, strip_image_extension)

ODIR5K_CLASSES = ('N', 'D', 'G', 'C', 'A', 'H', 'M', 'O')
LABEL_SOURCES = ('kaggle_full_df', 'per_eye_keywords', 'patient_multilabel')
#: ``ODIR5K(sample_unit=...)``: one sample per image or per patient.
SAMPLE_UNITS = ('image', 'patient')

#: The diagnostic keywords that Kaggle's ``full_df.csv`` maps to a class when
#: they come first in an eye's keyword list.  (Kaggle also has one image whose
#: first keyword is "low image quality" labelled O; here that keyword is a
#: quality keyword, see :data:`ODIR_QUALITY_KEYWORDS`.)
ODIR_KEYWORD_TO_CLASS: Dict[str, str] = {
    'normal fundus': 'N',
    'mild nonproliferative retinopathy': 'D',
    'moderate non proliferative retinopathy': 'D',
    'severe nonproliferative retinopathy': 'D',
    'proliferative diabetic retinopathy': 'D',
    'severe proliferative diabetic retinopathy': 'D',
    'diabetic retinopathy': 'D',
    'suspected moderate non proliferative retinopathy': 'D',
    'glaucoma': 'G',
    'suspected glaucoma': 'G',
    'cataract': 'C',
    'dry age-related macular degeneration': 'A',
    'wet age-related macular degeneration': 'A',
    'hypertensive retinopathy': 'H',
    'pathological myopia': 'M',
    'macular epiretinal membrane': 'O',
    'drusen': 'O',
    'epiretinal membrane': 'O',
    'myelinated nerve fibers': 'O',
    'vitreous degeneration': 'O',
    'refractive media opacity': 'O',
    'maculopathy': 'O',
    'branch retinal vein occlusion': 'O',
    'epiretinal membrane over the macula': 'O',
    'myopic maculopathy': 'O',
    'old branch retinal vein occlusion': 'O',
    'optic disk epiretinal membrane': 'O',
}
#: Image-quality keywords: removed before the first keyword is taken.
ODIR_QUALITY_KEYWORDS = ('lens dust', 'low image quality', 'image offset',
                         'optic disk photographically invisible')
#: Keywords that mark an image that is not a usable fundus photograph: the
#: image is excluded.
ODIR_NON_FUNDUS_KEYWORDS = ('anterior segment image', 'no fundus image')

ODIR_ANNOTATION_COLUMNS = ('ID', 'Patient Age', 'Patient Sex', 'Left-Fundus',
                           'Right-Fundus', 'Left-Diagnostic Keywords',
                           'Right-Diagnostic Keywords') + ODIR5K_CLASSES
KAGGLE_FULL_DF_COLUMNS = ODIR_ANNOTATION_COLUMNS + ('filepath', 'labels',
                                                    'target', 'filename')
ODIR_ANNOTATION_NAMES = (
    'data.xlsx', 'data.csv', 'training annotation (English).xlsx',
    'training annotation (English).csv',
    'ODIR-5K_Training_Annotations(Updated)_V2.xlsx',
    'ODIR-5K_Training_Annotations(Updated)_V2.csv')
KAGGLE_FULL_DF_NAME = 'full_df.csv'
_KEYWORD_SEPARATORS = re.compile('[\uff0c,]')

ODIR5K_TREE = """\
data/ODIR-5K/              <- data_root (Kaggle andrewmvd/ocular-disease-...)
├── full_df.csv                  label_source='kaggle_full_df'
├── preprocessed_images/{ID}_{left,right}.jpg   (the 6,392 full_df images)
└── ODIR-5K/ODIR-5K/
    ├── data.xlsx                'per_eye_keywords' / 'patient_multilabel'
    └── Training Images/{ID}_{left,right}.jpg   (all 7,000 images)
or the organisers' release (github.com/nkicsl/OIA-ODIR):
data/ODIR-5K/Training Set/
    ├── Annotation/training annotation (English).xlsx
    └── Images/{ID}_{left,right}.jpg"""


def split_keywords(text: str) -> List[str]:
    """Split one eye's keywords on the full-width comma (U+FF0C) and ``,``;
    lower-case and collapse white space."""
    return [
        ' '.join(k.split()).lower() for k in _KEYWORD_SEPARATORS.split(text)
        if k.strip()
    ]


def keyword_label(text: str,
                  keyword_map: Mapping[str, str] = ODIR_KEYWORD_TO_CLASS,
                  ignore_keywords: Sequence[str] = ODIR_QUALITY_KEYWORDS,
                  exclude_keywords: Sequence[str] = ODIR_NON_FUNDUS_KEYWORDS
                  ) -> Tuple[Optional[str], str]:
    """Single label of one eye from its diagnostic keywords.

    Rule: split the keywords (:func:`split_keywords`); if any is in
    ``exclude_keywords`` the image is excluded; drop ``ignore_keywords``;
    the first remaining keyword decides through ``keyword_map``.

    Args:
        text (str): The eye's ``*-Diagnostic Keywords`` cell.
        keyword_map (Mapping[str, str]): Keyword -> class name.
        ignore_keywords (Sequence[str]): Quality keywords to skip.
        exclude_keywords (Sequence[str]): Keywords that exclude the image.

    Returns:
        tuple[str | None, str]: The class name, or None and the reason:
        ``'non-fundus keyword: <kw>'``, ``'only quality keywords'`` or
        ``'unmapped: <first keyword>'``.
    """
    keywords = split_keywords(text)
    for keyword in keywords:
        if keyword in exclude_keywords:
            return None, f'non-fundus keyword: {keyword}'
    keywords = [k for k in keywords if k not in ignore_keywords]
    if not keywords:
        return None, 'only quality keywords'
    if keywords[0] in keyword_map:
        return keyword_map[keywords[0]], ''
    return None, f'unmapped: {keywords[0]}'


def _read_eyes(path: str, label_source: str) -> List[dict]:
    """One dict per image: image_id, patient, line, keywords (of that eye),
    patient_labels (N..O cells), labels and target (Kaggle cells)."""
    header, rows = read_table(path)
    is_full_df = 'filename' in header and 'labels' in header
    if label_source == 'kaggle_full_df' and not is_full_df:
        raise AnnotationError(
            f"Unexpected header in {path} for label_source='kaggle_full_df'."
            f'\n  expected: {",".join(KAGGLE_FULL_DF_COLUMNS)}'
            f'\n  found:    {",".join(header)}\n'
            "If this is the organisers' annotation (one row per patient), "
            "use label_source='per_eye_keywords' or 'patient_multilabel'; "
            "otherwise pass Kaggle's full_df.csv as ann_file.")
    if label_source == 'kaggle_full_df':
        required = ('ID', 'filename', 'labels')
    else:
        required = ('ID', 'Left-Diagnostic Keywords',
                    'Right-Diagnostic Keywords')
        required += ('filename', ) if is_full_df else ('Left-Fundus',
                                                       'Right-Fundus')
        if label_source == 'patient_multilabel':
            required += ODIR5K_CLASSES
    col = check_header(path, header, required,
                       (','.join(ODIR_ANNOTATION_COLUMNS),
                        ','.join(KAGGLE_FULL_DF_COLUMNS)))

    def cell(row, name):
        i = col.get(name)
        return row[i] if i is not None and i < len(row) else ''

    eyes = []
    for line, row in enumerate(rows, start=2):
        patient = cell(row, 'ID')
        if not patient:
            raise AnnotationError(f'{path}, line {line}: empty ID.')
        if is_full_df:
            files = [cell(row, 'filename')]
        else:
            files = [cell(row, 'Left-Fundus'), cell(row, 'Right-Fundus')]
        for name in files:
            if not name:
                continue
            image_id = strip_image_extension(name)
            side = image_id.rsplit('_', 1)[-1].lower()
            if side not in ('left', 'right'):
                raise AnnotationError(
                    f'{path}, line {line}: image name {name!r} does not end '
                    'in _left or _right.')
            eyes.append(
                dict(
                    image_id=image_id,
                    patient=patient,
                    line=line,
                    keywords=cell(row, f'{side.title()}-Diagnostic Keywords'),
                    patient_labels=[cell(row, c) for c in ODIR5K_CLASSES],
                    labels=cell(row, 'labels'),
                    target=cell(row, 'target')))
    check_unique_ids(path, (e['image_id'] for e in eyes))
    return eyes


def _kaggle_label(path: str, eye: dict) -> int:
    where = f'{path}, line {eye["line"]} ({eye["image_id"]})'
    try:
        names = ast.literal_eval(eye['labels'])
    except (ValueError, SyntaxError):
        names = None
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not names:
        raise AnnotationError(
            f'{where} has no label: labels={eye["labels"]!r}, expected a '
            "list with one class such as ['N'].")
    if len(names) > 1:
        raise AnnotationError(
            f'{where} has several labels {names}; kaggle_full_df is '
            'single-label.')
    if names[0] not in ODIR5K_CLASSES:
        raise AnnotationError(
            f'{where}: unknown label {names[0]!r}; expected one of '
            f'{", ".join(ODIR5K_CLASSES)}.')
    label = ODIR5K_CLASSES.index(names[0])
    if eye['target']:
        try:
            target = [float(v) for v in ast.literal_eval(eye['target'])]
        except (ValueError, SyntaxError, TypeError):
            target = []
        if (len(target) != len(ODIR5K_CLASSES)
                or target.index(max(target)) != label):
            raise AnnotationError(
                f'{where}: labels={eye["labels"]} disagrees with '
                f'target={eye["target"]} (order N,D,G,C,A,H,M,O).')
    return label


def _patient_labels(path: str, eye: dict) -> Tuple[int, ...]:
    where = f'{path}, line {eye["line"]} (patient {eye["patient"]})'
    flags = binary_flags(eye['patient_labels'], ODIR5K_CLASSES, where,
                         'the N..O columns')
    labels = tuple(i for i, one in enumerate(flags) if one)
    if not labels:
        raise AnnotationError(f'{where} has no label (all of N..O are 0).')
    return labels


def read_odir5k_annotations(
        path: str,
        label_source: str = 'kaggle_full_df',
        keyword_map: Optional[Mapping[str, str]] = None,
        ignore_keywords: Sequence[str] = ODIR_QUALITY_KEYWORDS,
        exclude_keywords: Sequence[str] = ODIR_NON_FUNDUS_KEYWORDS
) -> AnnotationTable:
    """Parse ODIR-5K annotations without reading images.

    Args:
        path (str): Kaggle's ``full_df.csv`` (one row per image) or the
            organisers' annotation (``.xlsx`` or a CSV export; one row per
            patient with ``ID, Patient Age, Patient Sex, Left-Fundus,
            Right-Fundus, Left-Diagnostic Keywords, Right-Diagnostic
            Keywords, N, D, G, C, A, H, M, O``).
        label_source (str): How labels are derived:

            - ``'kaggle_full_df'``: the ``labels`` column of ``full_df.csv``
              (single label per image; ``filename`` names the image, the
              stale ``filepath`` is ignored).
            - ``'per_eye_keywords'``: :func:`keyword_label` applied to the
              eye's own keywords (single label).  Excluded images are
              counted in ``AnnotationTable.excluded`` (and logged).
            - ``'patient_multilabel'``: the patient's N..O columns, given to
              each of the patient's images (multi-label).  Images with a
              non-fundus keyword are excluded.

            Defaults to ``'kaggle_full_df'``.
        keyword_map (Mapping[str, str], optional): Keyword -> class name for
            ``per_eye_keywords``. Defaults to :data:`ODIR_KEYWORD_TO_CLASS`.
        ignore_keywords (Sequence[str]): Quality keywords skipped by
            ``per_eye_keywords``. Defaults to :data:`ODIR_QUALITY_KEYWORDS`;
            ``()`` reproduces Kaggle's strict first-keyword rule.
        exclude_keywords (Sequence[str]): Keywords that exclude an image.
            Defaults to :data:`ODIR_NON_FUNDUS_KEYWORDS`.

    Returns:
        AnnotationTable: Groups are patient ids.
    """
    if label_source not in LABEL_SOURCES:
        raise ValueError(
            f'Unknown ODIR-5K label_source {label_source!r}; choose one of '
            f'{", ".join(map(repr, LABEL_SOURCES))}.')
    keyword_map = {
        ' '.join(k.split()).lower(): v
        for k, v in (keyword_map or ODIR_KEYWORD_TO_CLASS).items()
    }
    unknown = sorted(set(keyword_map.values()) - set(ODIR5K_CLASSES))
    if unknown:
        raise ValueError(f'keyword_map maps to unknown classes {unknown}.')
    ignore_keywords = tuple(k.lower() for k in ignore_keywords)
    exclude_keywords = tuple(k.lower() for k in exclude_keywords)
    eyes = _read_eyes(path, label_source)

    samples: List[Sample] = []
    non_fundus, quality_only, unmapped = [], [], []
    unmapped_keywords: Counter = Counter()
    for eye in eyes:
        image_id, group = eye['image_id'], eye['patient']
        if label_source == 'kaggle_full_df':
            samples.append(Sample(image_id, _kaggle_label(path, eye), group))
            continue
        if label_source == 'patient_multilabel':
            if any(k in exclude_keywords
                   for k in split_keywords(eye['keywords'])):
                non_fundus.append(image_id)
                continue
            samples.append(Sample(image_id, _patient_labels(path, eye), group))
            continue
        name, reason = keyword_label(eye['keywords'], keyword_map,
                                     ignore_keywords, exclude_keywords)
        if name is not None:
            samples.append(
                Sample(image_id, ODIR5K_CLASSES.index(name), group))
        elif reason.startswith('non-fundus'):
            non_fundus.append(image_id)
        elif reason.startswith('unmapped'):
            unmapped.append(image_id)
            unmapped_keywords[reason.split(': ', 1)[1]] += 1
        else:
            quality_only.append(image_id)

    excluded = {
        'not a fundus image (keyword in exclude_keywords: '
        f'{", ".join(exclude_keywords)})': non_fundus,
        'no diagnostic keyword (only quality keywords)': quality_only,
    }
    if unmapped:
        top = ', '.join(f'{k!r}: {n}'
                        for k, n in unmapped_keywords.most_common(8))
        more = len(unmapped_keywords) - 8
        excluded['first diagnostic keyword maps to no class (' + top +
                 (f', {more} more keywords' if more > 0 else '') +
                 ')'] = unmapped
    return AnnotationTable(
        ODIR5K_CLASSES,
        samples,
        source=path,
        multi_label=label_source == 'patient_multilabel',
        excluded={k: v for k, v in excluded.items() if v})


#: ``ODIR5K`` keyword options and the label sources that use them.
KEYWORD_OPTION_SOURCES = {
    'keyword_map': ('per_eye_keywords', ),
    'ignore_keywords': ('per_eye_keywords', ),
    'exclude_keywords': ('per_eye_keywords', 'patient_multilabel'),
}


def _check_keyword_options(label_source: str,
                           keyword_map: Optional[Mapping[str, str]],
                           ignore_keywords: Sequence[str],
                           exclude_keywords: Sequence[str]) -> None:
    """Refuse keyword options that ``label_source`` would ignore."""
    changed = dict(
        keyword_map=keyword_map is not None,
        ignore_keywords=tuple(ignore_keywords) != ODIR_QUALITY_KEYWORDS,
        exclude_keywords=tuple(exclude_keywords) != ODIR_NON_FUNDUS_KEYWORDS)
    ignored = [name for name, sources in KEYWORD_OPTION_SOURCES.items()
               if changed[name] and label_source not in sources]
    if ignored:
        users = sorted({s for name in ignored
                        for s in KEYWORD_OPTION_SOURCES[name]})
        raise ValueError(
            f'ODIR5K: {", ".join(ignored)} is not used with '
            f'label_source={label_source!r} (only with '
            f'{" or ".join(map(repr, users))}). Remove it, or change '
            'label_source.')


@DATASETS.register_module()
class ODIR5K(SplitImageDataset):
    """ODIR-5K fundus photographs, 8 classes ``N, D, G, C, A, H, M, O``.

    Download (see ``docs/datasets.md``): the organisers' release
    https://github.com/nkicsl/OIA-ODIR or Kaggle
    ``andrewmvd/ocular-disease-recognition-odir5k``.  Expected layout::

        data/ODIR-5K/                        <- data_root (Kaggle)
        ├── full_df.csv                      (label_source='kaggle_full_df')
        ├── preprocessed_images/*.jpg
        └── ODIR-5K/ODIR-5K/
            ├── data.xlsx                    (organisers' annotation)
            └── Training Images/*.jpg

    Label sources:

    - ``'kaggle_full_df'`` (default): Kaggle's per-image label (``labels``
      column, 6,392 images).  The image is ``filename`` (the ``filepath``
      column is stale and ignored).
    - ``'per_eye_keywords'``: one sample per eye of the organisers'
      annotation (or of ``full_df.csv``), labelled from that eye's keywords:
      keywords are split on ``，`` (U+FF0C) and ``,``; an image with
      "anterior segment image" or "no fundus image" is excluded; quality
      keywords ("lens dust", "low image quality", "image offset", "optic disk
      photographically invisible") are ignored; the first remaining keyword
      decides through :data:`ODIR_KEYWORD_TO_CLASS` (Kaggle's rule, 27
      keywords).  Images whose keywords map to no class are excluded; every
      exclusion is counted in a warning.  Kaggle applies the rule without
      ignoring quality keywords (it drops e.g. "lens dust，normal fundus");
      pass ``ignore_keywords=()`` to do the same.
    - ``'patient_multilabel'``: one sample per image, each carrying its
      patient's N..O labels (``gt_label`` is a list of class indices).

    Sample units (``sample_unit``):

    - ``'image'`` (default): one sample per image, ``img_path`` and
      ``gt_label``.
    - ``'patient'`` (only with ``label_source='patient_multilabel'``): one
      sample per patient with ``left_img_path``, ``right_img_path``,
      ``patient_id`` and the patient's ``gt_label`` (N..O).  Load it with
      ``dict(type='LoadEyePair')`` (both eyes side by side) instead of
      ``LoadImageFromFile``.  The split is the image unit's split (same
      split file), so both units use the same patients in each split.
      Patients with only one usable eye (the other is excluded by a
      non-fundus keyword, or missing from ``full_df.csv``) are dropped, and
      their number is logged.

    Splits are grouped by patient ``ID`` (both eyes in the same split); for
    multi-label samples the stratum is the rarest positive class.

    Args:
        data_root (str): Root folder of the unpacked dataset.
        split (str): ``'train'``, ``'val'``, ``'test'`` or ``'all'``.
            Defaults to ``'train'``.
        ann_file (str): Annotation file; ``''`` finds ``full_df.csv`` for
            ``kaggle_full_df``, and for the other sources the organisers'
            file (``data.xlsx``, ``training annotation (English).xlsx``,
            ``ODIR-5K_Training_Annotations(Updated)_V2.xlsx`` or a ``.csv``
            of the same name), else ``full_df.csv`` (its keyword and N..O
            columns, for its 6,392 images only). Defaults to ``''``.
        label_source (str): ``'kaggle_full_df'``, ``'per_eye_keywords'`` or
            ``'patient_multilabel'``. Defaults to ``'kaggle_full_df'``.
        keyword_map (dict, optional): Keyword -> class name for
            ``per_eye_keywords``. Defaults to :data:`ODIR_KEYWORD_TO_CLASS`.
        ignore_keywords (Sequence[str]): Quality keywords skipped by
            ``per_eye_keywords``. Defaults to :data:`ODIR_QUALITY_KEYWORDS`.
        exclude_keywords (Sequence[str]): Keywords that exclude an image
            (``per_eye_keywords`` and ``patient_multilabel``). Defaults to
            :data:`ODIR_NON_FUNDUS_KEYWORDS`.  A keyword option that differs
            from its default under a ``label_source`` that does not use it
            is an error.
        sample_unit (str): ``'image'`` or ``'patient'`` (see above).
            Defaults to ``'image'``.
        **kwargs: Other arguments of :class:`SplitImageDataset`
            (``split_file``, ``split_ratios``, ``split_seed``, ``pipeline``,
            ...) and of :class:`mmpretrain.datasets.BaseDataset`.
    """

    METAINFO = dict(classes=ODIR5K_CLASSES)
    DATASET_KEY = 'odir5k'
    EXPECTED_TREE = ODIR5K_TREE

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = '',
                 *,
                 label_source: str = 'kaggle_full_df',
                 keyword_map: Optional[Mapping[str, str]] = None,
                 ignore_keywords: Sequence[str] = ODIR_QUALITY_KEYWORDS,
                 exclude_keywords: Sequence[str] = ODIR_NON_FUNDUS_KEYWORDS,
                 sample_unit: str = 'image',
                 **kwargs):
        if label_source not in LABEL_SOURCES:
            raise ValueError(
                f'ODIR5K: unknown label_source {label_source!r}; choose one '
                f'of {", ".join(map(repr, LABEL_SOURCES))}.')
        if sample_unit not in SAMPLE_UNITS:
            raise ValueError(
                f'ODIR5K: unknown sample_unit {sample_unit!r}; choose one of '
                f'{", ".join(map(repr, SAMPLE_UNITS))}.')
        if sample_unit == 'patient' and label_source != 'patient_multilabel':
            raise ValueError(
                "ODIR5K: sample_unit='patient' needs "
                "label_source='patient_multilabel' (the patient's N..O "
                f'labels), got label_source={label_source!r}.')
        _check_keyword_options(label_source, keyword_map, ignore_keywords,
                               exclude_keywords)
        self.sample_unit = sample_unit
        self.label_source = label_source
        self.multi_label = label_source == 'patient_multilabel'
        self.keyword_map = keyword_map
        self.ignore_keywords = tuple(ignore_keywords)
        self.exclude_keywords = tuple(exclude_keywords)
        super().__init__(data_root, split, ann_file, **kwargs)
        if sample_unit == 'patient':
            loads_one_image = [
                type(t).__name__ for t in getattr(self.pipeline, 'transforms',
                                                  ())
                if isinstance(t, LoadImageFromFile)
            ]
            if loads_one_image:
                raise ValueError(
                    "ODIR5K(sample_unit='patient'): the pipeline has "
                    f'{loads_one_image[0]}, but patient samples have '
                    "'left_img_path' and 'right_img_path', not 'img_path'. "
                    "Use dict(type='LoadEyePair') to load both eyes.")

    @property
    def split_key(self) -> str:
        return f'odir5k_{self.label_source}'

    def load_annotations(self) -> AnnotationTable:
        path = self.ann_file or self.find_annotation()
        return read_odir5k_annotations(path, self.label_source,
                                       self.keyword_map, self.ignore_keywords,
                                       self.exclude_keywords)

    def find_annotation(self) -> str:
        """Locate the annotation file under ``data_root``.

        ``kaggle_full_df`` needs ``full_df.csv``.  The other sources prefer
        the organisers' annotation and fall back to ``full_df.csv`` (which
        has the same keyword and N..O columns, for its 6,392 images only).
        """
        index = self.directory_index()
        find = partial(
            find_annotation_file,
            index,
            dataset_name=self.dataset_name,
            expected_tree=self.EXPECTED_TREE)
        if self.label_source == 'kaggle_full_df':
            return find((KAGGLE_FULL_DF_NAME, ), 'Kaggle full_df.csv')
        if not index.find_file(ODIR_ANNOTATION_NAMES) and index.find_file(
                (KAGGLE_FULL_DF_NAME, )):
            path = find((KAGGLE_FULL_DF_NAME, ), 'Kaggle full_df.csv')
            print_log(
                f"{self.dataset_name}: no organisers' annotation found; "
                f"label_source='{self.label_source}' reads {path} (only the "
                'images listed there).',
                logger='current')
            return path
        return find(ODIR_ANNOTATION_NAMES, "organisers' annotation file")

    def image_priority(self, relpath: str) -> int:
        path = relpath.lower()
        if 'test' in path:
            return 3
        preprocessed = 'preprocessed_images' in path
        if self.label_source == 'kaggle_full_df':
            return 0 if preprocessed else 1
        return 2 if preprocessed else 0

    def missing_images_hint(self) -> str:
        if self.label_source == 'kaggle_full_df':
            return 'Unpack the Kaggle archive (preprocessed_images/).'
        return ("label_source='{}' needs the original training images "
                "(Kaggle: ODIR-5K/ODIR-5K/Training Images/; OIA-ODIR: "
                "Training Set/Images/): preprocessed_images/ holds only the "
                '6,392 images of full_df.csv.'.format(self.label_source))

    def make_data_list(self, samples: List[Sample],
                       paths: Dict[str, str]) -> List[dict]:
        """Per-image samples (see :class:`SplitImageDataset`), or for
        ``sample_unit='patient'`` one dict per patient: ``left_img_path``,
        ``right_img_path``, ``patient_id`` and ``gt_label`` (the patient's
        class indices)."""
        if self.sample_unit == 'image':
            return super().make_data_list(samples, paths)
        patients: Dict[str, dict] = {}
        for sample in samples:
            side = sample.image_id.rsplit('_', 1)[-1].lower()
            patient = patients.setdefault(
                sample.group,
                dict(patient_id=sample.group, gt_label=list(sample.label)))
            if patient['gt_label'] != list(sample.label):
                raise AnnotationError(
                    f'ODIR5K: the eyes of patient {sample.group} have '
                    f'different labels {patient["gt_label"]} and '
                    f'{list(sample.label)}.')
            patient[f'{side}_img_path'] = paths[sample.image_id]
        keys = ('left_img_path', 'right_img_path')
        one_eye = [p for p, d in patients.items() if not all(
            k in d for k in keys)]
        if one_eye:
            print_log(
                f'{self.dataset_name}: dropped {len(one_eye)} patient(s) of '
                f'split {self.split!r} with one usable eye only '
                "(sample_unit='patient' needs both; the other eye is "
                'excluded or not in the annotation file): '
                f'{list_some(one_eye)}',
                logger='current',
                level=logging.WARNING)
        data_list = [
            dict(left_img_path=d['left_img_path'],
                 right_img_path=d['right_img_path'],
                 gt_label=d['gt_label'],
                 patient_id=d['patient_id']) for d in patients.values()
            if all(k in d for k in keys)
        ]
        if not data_list:
            raise ValueError(
                f'{self.dataset_name}: no patient with both eyes in split '
                f'{self.split!r}.')
        return data_list

    def extra_repr(self) -> List[str]:
        body = super().extra_repr()
        body.append(f'Label source: \t{self.label_source}')
        body.append(f'Sample unit: \t{self.sample_unit}')
        return body
