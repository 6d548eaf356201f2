"""Synthetic fixtures in every supported layout load with the right labels."""
import ast
import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lmfloss_mm.datasets import (HAM10000, HAM10000_CLASSES, ISIC2019,
                                 ISIC2019_CLASSES, ODIR5K, ODIR5K_CLASSES,
                                 make_fake_ham10000, make_fake_isic2019,
                                 make_fake_odir5k, read_isic2019_annotations,
                                 read_odir5k_annotations)
from lmfloss_mm.datasets.synthetic import (HAM10000_DEFAULT_COUNTS,
                                           ISIC2019_DEFAULT_COUNTS,
                                           ODIR5K_DEFAULT_COUNTS)


def read_rows(path, delimiter=','):
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def labels_by_stem(dataset):
    """{image stem: gt_label} from the data list."""
    return {
        Path(dataset.get_data_info(i)['img_path']).stem:
        dataset.get_data_info(i)['gt_label']
        for i in range(len(dataset))
    }


def bincount(dataset):
    return np.bincount(dataset.get_gt_labels(),
                       minlength=len(dataset.CLASSES)).tolist()


# ----------------------------------------------------------------- HAM10000
HAM_METADATA = {
    'kaggle': ('HAM10000_metadata.csv', ','),
    'dataverse_csv': ('HAM10000_metadata.csv', ','),
    'dataverse_tab': ('HAM10000_metadata.tab', '\t'),
    'dataverse_noext': ('HAM10000_metadata', ','),
}


@pytest.mark.parametrize('metadata_format,image_folders,jpg_ids', [
    ('kaggle', 'parts', False),
    ('kaggle', 'kaggle_duplicates', False),
    ('kaggle', 'single', True),
    ('dataverse_csv', 'parts', False),
    ('dataverse_tab', 'parts', True),
    ('dataverse_noext', 'kaggle_duplicates', False),
])
def test_ham10000_layouts(tmp_path, metadata_format, image_folders, jpg_ids):
    root = make_fake_ham10000(
        tmp_path / 'ham',
        metadata_format=metadata_format,
        image_folders=image_folders,
        jpg_ids=jpg_ids)
    name, delimiter = HAM_METADATA[metadata_format]
    rows = read_rows(root / name, delimiter)
    assert len(rows) == sum(HAM10000_DEFAULT_COUNTS.values()) == 86
    assert len(rows[0]) == (7 if metadata_format == 'kaggle' else 8)
    assert rows[0]['image_id'].endswith('.jpg') == jpg_ids

    dataset = HAM10000(str(root), split='all')
    assert dataset.CLASSES == HAM10000_CLASSES
    assert bincount(dataset) == [
        HAM10000_DEFAULT_COUNTS[c] for c in HAM10000_CLASSES
    ]
    expected = {
        r['image_id'].replace('.jpg', ''): HAM10000_CLASSES.index(r['dx'])
        for r in rows
    }
    assert labels_by_stem(dataset) == expected
    paths = [dataset.get_data_info(i)['img_path'] for i in range(86)]
    assert len(set(paths)) == 86 and all(os.path.isfile(p) for p in paths)
    folders = {Path(p).parent.name for p in paths}
    if image_folders == 'single':
        assert folders == {'ISIC2018_Task3_Training_Input'}
    else:  # upper-case folders win over Kaggle's lower-case duplicates
        assert folders == {'HAM10000_images_part_1', 'HAM10000_images_part_2'}


def test_ham10000_isic2018_official_sets(tmp_path):
    val_counts = dict(nv=4, mel=2, bkl=1)
    test_counts = dict(nv=5, bcc=2, akiec=1, vasc=1, df=1)
    root = make_fake_ham10000(
        tmp_path / 'ham',
        isic2018_val_counts=val_counts,
        isic2018_test_counts=test_counts)
    val = HAM10000(str(root), split='isic2018_val')
    test = HAM10000(str(root), split='isic2018_test')
    for dataset, counts in ((val, val_counts), (test, test_counts)):
        assert bincount(dataset) == [counts.get(c, 0)
                                     for c in HAM10000_CLASSES]
    gt = read_rows(root / 'ISIC2018_Task3_Test_GroundTruth' /
                   'ISIC2018_Task3_Test_GroundTruth.csv')
    expected = {
        r['image']: HAM10000_CLASSES.index(
            max(('MEL', 'NV', 'BCC', 'AKIEC', 'BKL', 'DF', 'VASC'),
                key=lambda c: float(r[c])).lower())
        for r in gt
    }
    assert labels_by_stem(test) == expected
    assert all('ISIC2018_Task3_Test_Input' in test.get_data_info(i)['img_path']
               for i in range(len(test)))
    # the official sets are disjoint from HAM10000 itself
    assert not set(expected) & set(labels_by_stem(HAM10000(str(root), 'all')))


def test_ham10000_explicit_gt_path(tmp_path):
    root = make_fake_ham10000(tmp_path / 'ham', isic2018_test_counts={'nv': 3})
    gt = (root / 'ISIC2018_Task3_Test_GroundTruth' /
          'ISIC2018_Task3_Test_GroundTruth.csv')
    moved = root / 'my_gt.csv'
    gt.rename(moved)
    test = HAM10000(
        str(root), split='isic2018_test', isic2018_test_gt='my_gt.csv')
    assert bincount(test) == [0, 0, 0, 0, 0, 3, 0]


# ----------------------------------------------------------------- ISIC 2019
@pytest.mark.parametrize('kaggle_nested', [False, True])
def test_isic2019_layouts(tmp_path, kaggle_nested):
    root = make_fake_isic2019(tmp_path / 'isic', kaggle_nested=kaggle_nested)
    gt = read_rows(root / 'ISIC_2019_Training_GroundTruth.csv')
    assert list(gt[0]) == ['image'] + list(ISIC2019_CLASSES) + ['UNK']
    assert gt[0]['MEL'] in ('0.0', '1.0')
    downsampled = [r['image'] for r in gt if r['image'].endswith(
        '_downsampled')]
    assert len(downsampled) == 3

    dataset = ISIC2019(str(root), split='all')
    assert dataset.CLASSES == ISIC2019_CLASSES
    assert bincount(dataset) == [
        ISIC2019_DEFAULT_COUNTS[c] for c in ISIC2019_CLASSES
    ]
    expected = {
        r['image']: max(range(8), key=lambda i: float(r[ISIC2019_CLASSES[i]]))
        for r in gt
    }
    assert labels_by_stem(dataset) == expected
    folder = 'ISIC_2019_Training_Input'
    parents = {
        Path(dataset.get_data_info(i)['img_path']).parent.relative_to(root)
        for i in range(len(dataset))
    }
    assert parents == {Path(folder, folder) if kaggle_nested else Path(folder)}


def test_isic2019_downsampled_suffix_optional_on_disk(tmp_path):
    root = make_fake_isic2019(tmp_path / 'isic')
    folder = root / 'ISIC_2019_Training_Input'
    renamed = []
    for path in sorted(folder.glob('*_downsampled.jpg')):
        target = path.with_name(path.name.replace('_downsampled', ''))
        path.rename(target)
        renamed.append(target)
    assert len(renamed) == 3
    dataset = ISIC2019(str(root), split='all')
    assert len(dataset) == 64
    paths = {dataset.get_data_info(i)['img_path'] for i in range(64)}
    assert {str(p) for p in renamed} <= paths


def test_isic2019_groups_and_exclude_ham10000(tmp_path):
    root = make_fake_isic2019(tmp_path / 'isic')
    meta = read_rows(root / 'ISIC_2019_Training_Metadata.csv')
    n_ham = sum(r['lesion_id'].startswith('HAM_') for r in meta)
    no_lesion = {r['image'] for r in meta if not r['lesion_id']}
    assert n_ham == 12 and len(no_lesion) == 6

    table = read_isic2019_annotations(
        str(root / 'ISIC_2019_Training_GroundTruth.csv'),
        str(root / 'ISIC_2019_Training_Metadata.csv'))
    lesion_of = {r['image']: r['lesion_id'] for r in meta}
    for sample in table.samples:  # lesion id, or the image id when empty
        assert sample.group == (lesion_of[sample.image_id] or sample.image_id)

    kept = ISIC2019(str(root), split='all', exclude_ham10000=True)
    assert len(kept) == 64 - n_ham
    kept_ids = set(labels_by_stem(kept))
    assert not any(lesion_of[i].startswith('HAM_') for i in kept_ids)
    assert kept.split_key == 'isic2019_noham10000'


# ------------------------------------------------------------------- ODIR-5K
def full_df_labels(root):
    return {
        r['filename'][:-4]: ODIR5K_CLASSES.index(ast.literal_eval(
            r['labels'])[0])
        for r in read_rows(root / 'full_df.csv')
    }


def test_odir5k_kaggle_full_df(tmp_path):
    root = make_fake_odir5k(tmp_path / 'odir')
    rows = read_rows(root / 'full_df.csv')
    assert list(rows[0]) == [
        'ID', 'Patient Age', 'Patient Sex', 'Left-Fundus', 'Right-Fundus',
        'Left-Diagnostic Keywords', 'Right-Diagnostic Keywords', 'N', 'D',
        'G', 'C', 'A', 'H', 'M', 'O', 'filepath', 'labels', 'target',
        'filename'
    ]
    keywords = ' '.join(r['Left-Diagnostic Keywords'] +
                        r['Right-Diagnostic Keywords'] for r in rows)
    assert '\uff0c' in keywords and ',' in keywords  # both separators

    dataset = ODIR5K(str(root), split='all')
    assert dataset.CLASSES == ODIR5K_CLASSES
    assert bincount(dataset) == [ODIR5K_DEFAULT_COUNTS[c]
                                 for c in ODIR5K_CLASSES]
    assert labels_by_stem(dataset) == full_df_labels(root)
    assert {Path(dataset.get_data_info(i)['img_path']).parent.name
            for i in range(len(dataset))} == {'preprocessed_images'}


@pytest.mark.parametrize('annotation', ['xlsx', 'csv'])
def test_odir5k_per_eye_keywords(tmp_path, annotation):
    root = make_fake_odir5k(
        tmp_path / 'odir', organisers_annotation=annotation)
    assert (root / 'ODIR-5K' / 'ODIR-5K' / f'data.{annotation}').is_file()
    kaggle = full_df_labels(root)

    dataset = ODIR5K(str(root), split='all', label_source='per_eye_keywords')
    labels = labels_by_stem(dataset)
    # every Kaggle image gets Kaggle's label; one more eye ("lens dust，
    # normal fundus") is kept because quality keywords are ignored
    assert {k: labels[k] for k in kaggle} == kaggle
    extra = set(labels) - set(kaggle)
    assert len(extra) == 1 and labels[extra.pop()] == 0  # N
    expected_counts = [ODIR5K_DEFAULT_COUNTS[c] for c in ODIR5K_CLASSES]
    expected_counts[0] += 1
    assert bincount(dataset) == expected_counts
    assert {Path(dataset.get_data_info(i)['img_path']).parent.name
            for i in range(len(dataset))} == {'Training Images'}

    # Kaggle's strict rule (quality keywords not skipped) gives full_df
    strict = ODIR5K(
        str(root),
        split='all',
        label_source='per_eye_keywords',
        ignore_keywords=())
    assert labels_by_stem(strict) == kaggle


def test_odir5k_per_eye_exclusions_are_counted(tmp_path):
    root = make_fake_odir5k(tmp_path / 'odir', organisers_annotation='csv')
    table = read_odir5k_annotations(
        str(root / 'ODIR-5K' / 'ODIR-5K' / 'data.csv'), 'per_eye_keywords')
    counts = {reason.split(' (')[0]: len(ids)
              for reason, ids in table.excluded.items()}
    assert counts == {
        'not a fundus image': 2,
        'no diagnostic keyword': 1,
        'first diagnostic keyword maps to no class': 1,
    }
    assert any("'laser spot': 1" in reason for reason in table.excluded)
    # 76 eyes = 72 kept + 4 excluded
    assert len(table) + sum(counts.values()) == 76


def test_odir5k_patient_multilabel(tmp_path):
    root = make_fake_odir5k(tmp_path / 'odir', organisers_annotation='xlsx')
    dataset = ODIR5K(
        str(root), split='all', label_source='patient_multilabel')
    assert dataset.multi_label and len(dataset) == 74  # 76 - 2 non-fundus
    flags = {}
    for row in read_rows(root / 'full_df.csv'):
        flags[row['ID']] = [i for i, c in enumerate(ODIR5K_CLASSES)
                            if row[c] == '1']
    by_patient = {}
    for i in range(len(dataset)):
        stem = Path(dataset.get_data_info(i)['img_path']).stem
        patient = stem.split('_')[0]
        cat_ids = dataset.get_cat_ids(i)
        assert cat_ids == dataset.get_data_info(i)['gt_label']
        assert cat_ids == sorted(set(cat_ids)) and cat_ids
        by_patient.setdefault(patient, []).append(cat_ids)
        if patient in flags:
            assert cat_ids == flags[patient]
    # both eyes carry the patient's labels
    assert all(len({tuple(v) for v in labels}) == 1
               for labels in by_patient.values())
    gt = dataset.get_gt_labels()
    assert gt.dtype == object and len(gt) == 74
    assert any(len(labels) > 1 for labels in gt)


def test_odir5k_multilabel_gt_labels_with_one_label_each(tmp_path):
    root = make_fake_odir5k(tmp_path / 'odir', counts=dict(N=6))
    dataset = ODIR5K(
        str(root), split='all', label_source='patient_multilabel')
    gt = dataset.get_gt_labels()
    assert gt.shape == (6, ) and gt.dtype == object
    assert [list(v) for v in gt] == [[0]] * 6


def test_odir5k_patient_multilabel_from_full_df_packs(tmp_path):
    root = make_fake_odir5k(tmp_path / 'odir')
    dataset = ODIR5K(
        str(root),
        split='train',
        label_source='patient_multilabel',
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='PackInputs')])
    sample = dataset[0]
    assert sample['data_samples'].gt_label.tolist() == dataset.get_cat_ids(0)


# ------------------------------------------------------------------- common
def test_labels_do_not_need_images(tmp_path):
    root = make_fake_ham10000(tmp_path / 'ham')
    dataset = HAM10000(str(root), split='train')
    labels = dataset.get_gt_labels()
    for path in root.rglob('*.jpg'):
        path.unlink()
    assert dataset.get_gt_labels().tolist() == labels.tolist()
    assert dataset.get_cat_ids(3) == [int(labels[3])]
    assert labels.dtype == np.int64


def test_fixture_generation_is_fast_and_deterministic(tmp_path):
    start = time.perf_counter()
    make_fake_ham10000(tmp_path / 'a')
    make_fake_isic2019(tmp_path / 'b')
    make_fake_odir5k(tmp_path / 'c', organisers_annotation='csv')
    assert time.perf_counter() - start < 3  # each well under 1 s
    make_fake_ham10000(tmp_path / 'a2')
    assert ((tmp_path / 'a' / 'HAM10000_metadata.csv').read_bytes() ==
            (tmp_path / 'a2' / 'HAM10000_metadata.csv').read_bytes())


def test_custom_counts_and_draw(tmp_path):
    colours = {0: (255, 0, 0), 1: (0, 0, 255)}

    def draw(class_index, rng, image_size):
        image = np.zeros((image_size, image_size, 3), np.uint8)
        image[:] = colours.get(class_index, (0, 255, 0))
        return image

    root = make_fake_ham10000(
        tmp_path / 'ham', counts=dict(akiec=3, bcc=3), image_size=16,
        draw=draw)
    dataset = HAM10000(str(root), split='all')
    assert bincount(dataset) == [3, 3, 0, 0, 0, 0, 0]
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        pixels = np.asarray(Image.open(info['img_path']))
        assert pixels.shape == (16, 16, 3)
        assert np.abs(pixels.mean((0, 1)) -
                      colours[info['gt_label']]).max() < 8


def test_default_fixture_classes_in_every_split(tmp_path):
    for make, cls, kwargs in ((make_fake_ham10000, HAM10000, {}),
                              (make_fake_isic2019, ISIC2019, {}),
                              (make_fake_odir5k, ODIR5K, {})):
        root = make(tmp_path / cls.__name__)
        for split in ('train', 'val', 'test'):
            counts = bincount(cls(str(root), split=split, **kwargs))
            assert min(counts) > 0, (cls.__name__, split, counts)
