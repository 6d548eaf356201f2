"""CSVImageDataset: any image folder + annotation CSV, split like the paper
datasets.  Expected values are computed from the written CSV files with the
csv module, independently of the dataset code."""
import csv
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lmfloss_mm.datasets import (AnnotationError, CSVImageDataset,
                                 DatasetLayoutError, make_fake_image_csv,
                                 read_image_csv)

COUNTS = dict(mel=9, nv=24, bcc=6, df=4)
SPLITS = ('train', 'val', 'test')


def read_rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def load_splits(root, **kwargs):
    return {s: CSVImageDataset(str(root), split=s, **kwargs) for s in SPLITS}


def write_csv(path, header, rows):
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)


@pytest.fixture
def names_root(tmp_path):
    return make_fake_image_csv(tmp_path / 'data', COUNTS,
                               ann_file='labels.csv', group_column='patient',
                               label_column='diagnosis')


def test_class_names_column_grouped_split(names_root):
    rows = read_rows(names_root / 'labels.csv')
    datasets = load_splits(names_root, ann_file='labels.csv',
                           group_column='patient')
    classes = tuple(sorted(COUNTS))  # no classes= given: sorted names
    by_file = {}
    for split, dataset in datasets.items():
        assert dataset.metainfo['classes'] == classes
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            by_file[Path(info['img_path']).stem] = (split, info['gt_label'])
    assert len(by_file) == len(rows) == sum(COUNTS.values())
    # labels: the class-name column, as indices into the sorted classes
    for row in rows:
        assert by_file[row['image']][1] == classes.index(row['diagnosis'])
    # the split is grouped: every patient in exactly one split
    splits_of_patient = defaultdict(set)
    for row in rows:
        splits_of_patient[row['patient']].add(by_file[row['image']][0])
    assert all(len(s) == 1 for s in splits_of_patient.values())
    # stratified: every class in every split (>= 3 patients per class)
    for dataset in datasets.values():
        assert set(dataset.get_gt_labels()) == set(range(len(classes)))
    # written where the paper datasets write theirs, and reused
    split_file = (names_root / 'lmfloss_splits' /
                  'labels_by-patient_70-15-15_seed0.csv')
    assert all(d.split_file_used == str(split_file)
               for d in datasets.values())
    written = Counter(r['split'] for r in read_rows(split_file))
    assert written == {s: len(d) for s, d in datasets.items()}


def test_one_hot_isic_layout(tmp_path):
    counts = dict(MEL=5, NV=12, BCC=4, AKIEC=3, BKL=4, DF=3, VASC=3)
    root = make_fake_image_csv(
        tmp_path, counts, ann_file='ISIC2018_Task3_Test_GroundTruth.csv',
        label_format='one_hot', id_format='ISIC_{:07d}')
    rows = read_rows(root / 'ISIC2018_Task3_Test_GroundTruth.csv')
    columns = list(counts)
    expected = {r['image']: [float(r[c]) for c in columns].index(1.0)
                for r in rows}
    dataset = CSVImageDataset(str(root), split='all',
                              ann_file='ISIC2018_Task3_Test_GroundTruth.csv')
    assert dataset.metainfo['classes'] == tuple(columns)  # file order
    got = {Path(dataset.get_data_info(i)['img_path']).stem:
           dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))}
    assert got == expected
    assert np.bincount(dataset.get_gt_labels()).tolist() == list(
        counts.values())


@pytest.mark.parametrize('id_style', ['stem', 'filename', 'relpath'])
def test_image_ids_with_or_without_extension_or_relative(tmp_path, id_style):
    root = make_fake_image_csv(tmp_path, dict(a=3, b=3), id_style=id_style,
                               image_folder='nested/images')
    rows = read_rows(root / 'labels.csv')
    dataset = CSVImageDataset(str(root), split='all', ann_file='labels.csv')
    paths = sorted(dataset.get_data_info(i)['img_path']
                   for i in range(len(dataset)))
    expected = sorted(str(p) for p in (root / 'nested/images').glob('*.jpg'))
    assert paths == expected and len(rows) == 6


def test_classes_given_fix_the_order(names_root):
    classes = ('nv', 'mel', 'bcc', 'df')
    dataset = CSVImageDataset(str(names_root), split='all',
                              ann_file='labels.csv', classes=classes,
                              label_column='diagnosis')
    rows = {r['image']: r['diagnosis']
            for r in read_rows(names_root / 'labels.csv')}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert classes[info['gt_label']] == rows[Path(info['img_path']).stem]


def test_integer_class_names_sort_numerically(tmp_path):
    root = make_fake_image_csv(tmp_path, {'10': 3, '2': 3, '0': 3})
    table = read_image_csv(str(root / 'labels.csv'))
    assert table.classes == ('0', '2', '10')


def test_label_not_in_classes_names_the_line(names_root):
    rows = read_rows(names_root / 'labels.csv')
    line = next(i for i, r in enumerate(rows, start=2)
                if r['diagnosis'] == 'df')
    with pytest.raises(AnnotationError, match=rf'line {line} .*'
                       r"label 'df' is not one of the classes mel, nv"):
        CSVImageDataset(str(names_root), split='all', ann_file='labels.csv',
                        group_column='patient', classes=['mel', 'nv', 'bcc'])


@pytest.fixture
def two_images(tmp_path):
    for name in ('a', 'b'):
        write_image(tmp_path / 'img' / f'{name}.jpg')
    return tmp_path


@pytest.mark.parametrize('header,rows,message', [
    (['image', 'label'], [['a', 'x'], ['b', '']],
     r"line 3 \(b\): empty label in column 'label'"),
    (['image', 'x', 'y'], [['a', '1', '0'], ['b', '1.0', '1.0']],
     r'line 3 \(b\) has several labels \(x, y\)'),
    (['image', 'x', 'y'], [['a', '0', '0'], ['b', '1', '0']],
     r'line 2 \(a\) has no label'),
    (['image', 'x', 'y'], [['a', '1', '0'], ['a', '0', '1'], ['b', '0', '1']],
     r'listed more than once: a \(lines 2, 3\)'),
    (['image', 'label'], [['a', 'x'], ['', 'y']],
     r"line 3: empty 'image' cell"),
    (['file', 'label'], [['a', 'x']],
     r"no column 'image' \(image_column\); its header is file,label"),
    (['image', 'age', 'x', 'y'],
     [['a', '63', '1', '0'], ['b', '50', '0', '1']],
     r'one-hot values must be 0 or 1.*set label_column='),
    (['image'], [['a'], ['b']], r'no label column besides'),
])
def test_annotation_errors_name_the_row(two_images, header, rows, message):
    write_csv(two_images / 'labels.csv', header, rows)
    with pytest.raises(AnnotationError, match=message):
        CSVImageDataset(str(two_images), split='all', ann_file='labels.csv')


def test_missing_image_names_the_line(two_images):
    write_csv(two_images / 'labels.csv', ['image', 'label'],
              [['a', 'x'], ['b', 'y'], ['c.png', 'x']])
    with pytest.raises(DatasetLayoutError,
                       match=r'1 of 3 images .* line 4 \(c.png\)') as error:
        CSVImageDataset(str(two_images), split='all', ann_file='labels.csv')
    assert error.value.missing_ids == ['c.png']


def test_extension_must_match_when_given(two_images):
    write_csv(two_images / 'labels.csv', ['image', 'label'],
              [['a.png', 'x'], ['b', 'y']])
    with pytest.raises(DatasetLayoutError, match=r'line 2 \(a.png\)'):
        CSVImageDataset(str(two_images), split='all', ann_file='labels.csv')


def test_ambiguous_image_is_an_error(two_images):
    write_image(two_images / 'other' / 'a.jpg')
    write_csv(two_images / 'labels.csv', ['image', 'label'],
              [['a', 'x'], ['b', 'y']])
    with pytest.raises(AnnotationError,
                       match=r'line 2 \(a\): img/a.jpg / other/a.jpg'):
        CSVImageDataset(str(two_images), split='all', ann_file='labels.csv')
    # a relative path is specific
    write_csv(two_images / 'labels.csv', ['image', 'label'],
              [['other/a', 'x'], ['b', 'y']])
    dataset = CSVImageDataset(str(two_images), split='all',
                              ann_file='labels.csv')
    assert dataset.get_data_info(0)['img_path'] == str(
        two_images / 'other' / 'a.jpg')


def test_one_image_under_two_names_is_an_error(two_images):
    write_csv(two_images / 'labels.csv', ['image', 'label'],
              [['a', 'x'], ['img/a.jpg', 'y'], ['b', 'x']])
    with pytest.raises(AnnotationError, match=r'line 2 \(a\) and line 3 '
                       r'\(img/a.jpg\)'):
        CSVImageDataset(str(two_images), split='all', ann_file='labels.csv')


def test_argument_errors(two_images):
    with pytest.raises(ValueError, match='needs ann_file'):
        CSVImageDataset(str(two_images), split='all')
    write_csv(two_images / 'labels.csv', ['image', 'label'],
              [['a', 'x'], ['b', 'y']])
    with pytest.raises(AnnotationError, match=r"no column 'patient' "
                       r'\(group_column\)'):
        CSVImageDataset(str(two_images), split='all', ann_file='labels.csv',
                        group_column='patient')
    with pytest.raises(ValueError, match="split_file='s.csv' is not used by "
                       "split='all'"):
        CSVImageDataset(str(two_images), split='all', ann_file='labels.csv',
                        split_file='s.csv')


#: <repo>/../shared/data/isic2018_task3_test
ISIC2018_TEST = (Path(__file__).resolve().parents[3] / 'shared' / 'data' /
                 'isic2018_task3_test')
ISIC2018_TEST_COUNTS = dict(NV=909, BKL=217, MEL=171, BCC=93, DF=44,
                            AKIEC=43, VASC=35)


def test_real_isic2018_test_folder(tmp_path):
    if not ISIC2018_TEST.is_dir():
        pytest.skip(f'ISIC 2018 test images not available ({ISIC2018_TEST})')
    split_file = tmp_path / 'split.csv'  # never write into the shared data
    datasets = load_splits(ISIC2018_TEST,
                           ann_file='ISIC2018_Task3_Test_GroundTruth.csv',
                           split_file=str(split_file))
    classes = datasets['train'].metainfo['classes']
    assert classes == ('MEL', 'NV', 'BCC', 'AKIEC', 'BKL', 'DF', 'VASC')
    totals = sum(np.bincount(d.get_gt_labels(), minlength=7)
                 for d in datasets.values())
    assert dict(zip(classes, totals.tolist())) == ISIC2018_TEST_COUNTS
    files = {s: {d.get_data_info(i)['img_path'] for i in range(len(d))}
             for s, d in datasets.items()}
    assert not files['train'] & files['val']
    assert not files['train'] & files['test']
    assert not files['val'] & files['test']
    assert sum(len(f) for f in files.values()) == 1512
    # each image is its own group: every class split 70/15/15 to +-1 image
    for split, ratio in zip(SPLITS, (0.7, 0.15, 0.15)):
        counts = np.bincount(datasets[split].get_gt_labels(), minlength=7)
        target = ratio * np.array([ISIC2018_TEST_COUNTS[c] for c in classes])
        assert np.all(np.abs(counts - target) <= 1), (split, counts, target)
    assert [len(datasets[s]) for s in SPLITS] == [1059, 229, 224]
