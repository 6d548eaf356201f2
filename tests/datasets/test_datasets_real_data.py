"""The real annotation files (``<repo>/../shared/data``) parse to the
published counts and split cleanly.  Skipped when the files are absent."""
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from lmfloss_mm.datasets import (HAM10000, ODIR5K_CLASSES,
                                 make_grouped_split, read_ham10000_annotations,
                                 read_isic2018_task3_gt,
                                 read_isic2019_annotations,
                                 read_odir5k_annotations, split_class_counts)

#: <repo>/../shared/data
SHARED_DATA = Path(__file__).resolve().parents[3] / 'shared' / 'data'

HAM_COUNTS = dict(akiec=327, bcc=514, bkl=1099, df=115, mel=1113, nv=6705,
                  vasc=142)
ISIC_COUNTS = dict(MEL=4522, NV=12875, BCC=3323, AK=867, BKL=2624, DF=239,
                   VASC=253, SCC=628)
ODIR_COUNTS = dict(N=2873, D=1608, O=708, C=293, G=284, A=266, M=232, H=128)
ISIC2018_TEST_COUNTS = dict(nv=909, bkl=217, mel=171, bcc=93, df=44, akiec=43,
                            vasc=35)


def as_dict(table):
    return dict(zip(table.classes, table.class_counts().tolist()))


@pytest.fixture(scope='module')
def tables():
    folder = SHARED_DATA / 'annotations'
    if not folder.is_dir():
        pytest.skip(f'real annotations not available ({folder})')
    isic = (str(folder / 'ISIC_2019_Training_GroundTruth.csv'),
            str(folder / 'ISIC_2019_Training_Metadata.csv'))
    return dict(
        ham=read_ham10000_annotations(str(folder / 'HAM10000_metadata.csv')),
        isic=read_isic2019_annotations(*isic),
        isic_noham=read_isic2019_annotations(*isic, exclude_ham10000=True),
        odir=read_odir5k_annotations(str(folder / 'odir5k_full_df.csv')),
        odir_path=str(folder / 'odir5k_full_df.csv'))


def test_ham10000_counts(tables):
    table = tables['ham']
    assert as_dict(table) == HAM_COUNTS
    assert len({s.group for s in table.samples}) == 7470  # lesions


def test_isic2019_counts_and_groups(tables):
    table = tables['isic']
    assert as_dict(table) == ISIC_COUNTS and len(table) == 25331
    singletons = [s for s in table.samples if s.group == s.image_id]
    assert len(singletons) == 2084  # empty lesion_id -> image id
    assert sum(s.image_id.endswith('_downsampled')
               for s in table.samples) == 2074


def test_isic2019_exclude_ham10000(tables):
    table = tables['isic_noham']
    (reason, removed), = table.excluded.items()
    assert len(removed) == 10015 and 'HAM' in reason
    assert len(table) == 25331 - 10015
    assert not any(s.group.startswith('HAM_') for s in table.samples)
    ham_ids = {s.image_id for s in tables['ham'].samples}
    assert set(removed) == ham_ids


def test_odir5k_full_df_counts(tables):
    assert as_dict(tables['odir']) == ODIR_COUNTS
    assert len({s.group for s in tables['odir'].samples}) == 3358


def test_odir5k_keyword_rule_reproduces_kaggle(tables):
    kaggle = {s.image_id: s.label for s in tables['odir'].samples}
    per_eye = read_odir5k_annotations(tables['odir_path'], 'per_eye_keywords')
    assert {s.image_id: s.label for s in per_eye.samples} == kaggle
    assert not per_eye.excluded
    # the strict first-keyword rule differs on exactly one image whose first
    # keyword is "low image quality" (Kaggle labels it O)
    strict = read_odir5k_annotations(
        tables['odir_path'], 'per_eye_keywords', ignore_keywords=())
    (reason, ids), = strict.excluded.items()
    assert len(ids) == 1 and "'low image quality': 1" in reason
    assert kaggle[ids[0]] == ODIR5K_CLASSES.index('O')


def test_odir5k_patient_multilabel(tables):
    table = read_odir5k_annotations(tables['odir_path'], 'patient_multilabel')
    assert table.multi_label and len(table) == 6392
    with open(tables['odir_path'], newline='', encoding='utf-8') as f:
        first = next(csv.DictReader(f))
    expected = tuple(i for i, c in enumerate(ODIR5K_CLASSES)
                     if first[c] == '1')
    assert table.samples[0].label == expected


@pytest.mark.parametrize('name', ['ham', 'isic', 'isic_noham', 'odir'])
def test_real_splits_grouped_and_stratified(tables, name):
    table = tables[name]
    assignment = make_grouped_split(table, (0.7, 0.15, 0.15), seed=0)
    splits_of_group = defaultdict(set)
    for s in table.samples:
        splits_of_group[s.group].add(assignment[s.image_id])
    assert max(len(v) for v in splits_of_group.values()) == 1
    counts = split_class_counts(table, assignment)
    totals = table.class_counts()
    for split, ratio in zip(('train', 'val', 'test'), (0.7, 0.15, 0.15)):
        fractions = counts[split] / totals
        assert np.all(np.abs(fractions - ratio) < 0.03), (split, fractions)
    n_train = sum(v == 'train' for v in assignment.values())
    assert abs(n_train / len(table) - 0.7) < 0.01


def test_isic2018_test_images_load(tmp_path):
    root = SHARED_DATA / 'isic2018_task3_test'
    if not root.is_dir():
        pytest.skip(f'ISIC 2018 test images not available ({root})')
    gt = read_isic2018_task3_gt(
        str(root / 'ISIC2018_Task3_Test_GroundTruth.csv'))
    assert as_dict(gt) == {c: ISIC2018_TEST_COUNTS[c] for c in gt.classes}
    dataset = HAM10000(
        str(root),
        split='isic2018_test',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(224, 224), backend='pillow'),
            dict(type='PackInputs')
        ])
    assert len(dataset) == 1512
    counts = np.bincount(dataset.get_gt_labels(), minlength=7)
    assert dict(zip(dataset.CLASSES, counts.tolist())) == ISIC2018_TEST_COUNTS
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 224, 224)
    assert int(sample['data_samples'].gt_label) == dataset.get_cat_ids(0)[0]
