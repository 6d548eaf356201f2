"""Cross-validation folds and the HAM10000-style data root of the ISIC 2018
Task 3 benchmark (lmfloss_mm.benchmarking.folds)."""
import csv
import os
from collections import Counter

import numpy as np
import pytest

from lmfloss_mm.benchmarking.folds import (HAM10000_METADATA_HEADER,
                                           build_data_root, cv_assignment,
                                           split_file_path, stratified_folds,
                                           validation_part,
                                           write_cv_split_files)
from lmfloss_mm.datasets import (HAM10000, AnnotationTable, Sample,
                                 read_split_file)
from lmfloss_mm.datasets.utils import DatasetLayoutError

from .conftest import make_isic2018_like

#: The class counts of the real set, in HAM10000 index order
#: (akiec, bcc, bkl, df, mel, nv, vasc).
REAL_COUNTS = [43, 93, 217, 44, 171, 909, 35]
CLASSES = ('akiec', 'bcc', 'bkl', 'df', 'mel', 'nv', 'vasc')


def make_table(counts=REAL_COUNTS, seed=0):
    """An AnnotationTable with these class counts, ids in random order."""
    rng = np.random.default_rng(seed)
    samples = [Sample(f'ISIC_{i:07d}', c, f'ISIC_{i:07d}')
               for i, c in enumerate(np.repeat(np.arange(len(counts)),
                                               counts))]
    samples = [samples[i] for i in rng.permutation(len(samples))]
    return AnnotationTable(CLASSES, samples, source='generated')


def test_folds_partition_and_stratify():
    labels = np.repeat(np.arange(7), REAL_COUNTS)
    folds = stratified_folds(labels, 5, seed=0)
    assert folds.shape == labels.shape and set(folds) == set(range(5))
    sizes = np.bincount(folds, minlength=5)
    assert sizes.sum() == 1512 and sizes.max() - sizes.min() <= 1
    for c, n in enumerate(REAL_COUNTS):
        per_fold = np.bincount(folds[labels == c], minlength=5)
        assert per_fold.sum() == n
        assert per_fold.max() - per_fold.min() <= 1, (c, per_fold)
    # vasc (35) and df (44): 7 and 8-9 test images per fold
    assert np.bincount(folds[labels == 6]).tolist() == [7] * 5
    assert sorted(np.bincount(folds[labels == 3]).tolist()) == [8, 9, 9, 9, 9]


def test_folds_deterministic_and_order_free():
    table = make_table()
    ids = table.image_ids
    labels = [s.label for s in table.samples]
    a = stratified_folds(labels, 5, seed=3, ids=ids)
    b = stratified_folds(labels, 5, seed=3, ids=ids)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, stratified_folds(labels, 5, seed=4, ids=ids))
    # the fold of an image does not depend on the file order
    order = np.random.default_rng(1).permutation(len(ids))
    c = stratified_folds([labels[i] for i in order], 5, seed=3,
                         ids=[ids[i] for i in order])
    assert dict(zip(ids, a.tolist())) == dict(
        zip([ids[i] for i in order], c.tolist()))


def test_folds_reject_bad_arguments():
    with pytest.raises(ValueError, match='n_folds'):
        stratified_folds([0, 1], n_folds=1)
    with pytest.raises(ValueError, match='length'):
        stratified_folds([0, 1], 2, ids=['a'])
    with pytest.raises(ValueError, match='val_ratio'):
        validation_part([0, 1], ['a', 'b'], 0.0, seed=0)


def test_validation_part_sizes():
    labels = [0] * 10 + [1] * 2 + [2]
    ids = [f'i{k:02d}' for k in range(len(labels))]
    chosen = validation_part(labels, ids, 0.2, seed=0)
    got = Counter(labels[i] for i in chosen)
    # round(0.2 * 10) = 2; a class of 2 gives 1 (never 0, never all); a
    # class of 1 stays in training
    assert got == {0: 2, 1: 1}
    assert chosen == sorted(set(chosen))


def test_every_image_tested_once_val_disjoint():
    table = make_table()
    ids = set(table.image_ids)
    label = {s.image_id: s.label for s in table.samples}
    tested = Counter()
    for fold in range(5):
        assignment = cv_assignment(table, fold, 5, val_ratio=0.2, seed=0)
        assert set(assignment) == ids
        split_of = {s: {i for i, v in assignment.items() if v == s}
                    for s in ('train', 'val', 'test')}
        assert sum(map(len, split_of.values())) == len(ids)  # disjoint
        tested.update(split_of['test'])
        # the validation part: round(0.2 * n_c) of the training pool
        pool = Counter(label[i] for i in split_of['train'] | split_of['val'])
        val = Counter(label[i] for i in split_of['val'])
        for c in range(7):
            assert val[c] == int(np.floor(0.2 * pool[c] + 0.5)), (fold, c)
        assert assignment == cv_assignment(table, fold, 5, 0.2, 0)
    assert set(tested) == ids and set(tested.values()) == {1}


def test_validation_changes_with_the_fold():
    table = make_table()
    val = [{i for i, s in cv_assignment(table, f, 5, 0.2, 0).items()
            if s == 'val'} for f in range(2)]
    assert val[0] != val[1]


def test_split_files_round_trip(tmp_path):
    table = make_table([6, 7, 8, 6, 9, 30, 5])
    paths = write_cv_split_files(table, str(tmp_path), 3, 0.25, seed=2)
    assert paths == [split_file_path(str(tmp_path), f, 3, 0.25, 2)
                     for f in range(3)]
    assert os.path.basename(paths[0]) == 'cv3-val25_seed2_fold0.csv'
    with open(paths[1]) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['image_id', 'group', 'label', 'split']
    assert len(rows) == len(table) + 1
    first = dict(zip(rows[0], rows[1]))
    assert first['group'] == first['image_id']  # no lesion ids
    for fold, path in enumerate(paths):
        assert read_split_file(path, table) == cv_assignment(
            table, fold, 3, 0.25, 2)


def test_build_data_root_from_generated_images(tmp_path):
    source = tmp_path / 'isic2018'
    counts = dict(MEL=4, NV=9, BCC=3, AKIEC=2, BKL=4, DF=2, VASC=2)
    labels = make_isic2018_like(source, counts, image_folder='Input/sub')
    root = tmp_path / 'root'
    table = build_data_root(str(source), str(root))
    assert dict(zip(table.classes, table.class_counts().tolist())) == dict(
        akiec=2, bcc=3, bkl=4, df=2, mel=4, nv=9, vasc=2)
    with open(root / 'HAM10000_metadata.csv') as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == HAM10000_METADATA_HEADER
    for lesion_id, image_id, dx, *rest in rows[1:]:
        assert lesion_id == image_id and CLASSES[labels[image_id]] == dx
        assert rest == ['', '', '', '']
        link = root / 'images' / f'{image_id}.jpg'
        assert link.is_symlink() and os.readlink(link) == str(
            source / 'Input' / 'sub' / f'{image_id}.jpg')
    # again: same result, links kept
    inode = os.lstat(link).st_ino
    assert build_data_root(str(source), str(root)).samples == table.samples
    assert os.lstat(link).st_ino == inode
    # the project's dataset class reads the root and a fold's split file
    path = write_cv_split_files(table, str(root), 2, 0.25, 0)[0]
    assignment = read_split_file(path, table)
    for split in ('train', 'val', 'test'):
        dataset = HAM10000(str(root), split=split, split_file=path,
                           lazy_init=False)
        expected = sorted(i for i, s in assignment.items() if s == split)
        got = sorted(os.path.basename(dataset.get_data_info(i)['img_path'])
                     for i in range(len(dataset)))
        assert got == [f'{i}.jpg' for i in expected]
        assert sorted(dataset.get_gt_labels().tolist()) == sorted(
            labels[i] for i in expected)


def test_build_data_root_errors(tmp_path):
    with pytest.raises(DatasetLayoutError, match='GroundTruth'):
        build_data_root(str(tmp_path), str(tmp_path / 'root'))
    labels = make_isic2018_like(tmp_path / 'src', dict(NV=3, MEL=2))
    os.remove(tmp_path / 'src' / 'images' / f'{sorted(labels)[0]}.jpg')
    with pytest.raises(DatasetLayoutError, match='1 image'):
        build_data_root(str(tmp_path / 'src'), str(tmp_path / 'root'))


def test_real_data_root_and_folds(real_data, tmp_path):
    table = build_data_root(str(real_data), str(tmp_path))
    assert table.class_counts().tolist() == REAL_COUNTS
    paths = write_cv_split_files(table, str(tmp_path), 5, 0.2, 0)
    test_sizes, val_sizes = [], []
    for path in paths:
        assignment = read_split_file(path, table)
        count = Counter(assignment.values())
        test_sizes.append(count['test'])
        val_sizes.append(count['val'])
    assert sum(test_sizes) == 1512 and set(test_sizes) <= {302, 303}
    assert all(240 <= v <= 244 for v in val_sizes), val_sizes
    test = HAM10000(str(tmp_path), split='test', split_file=paths[0],
                    lazy_init=False)
    assert len(test) == test_sizes[0]
    assert np.bincount(test.get_gt_labels(), minlength=7)[6] == 7  # vasc
    assert os.path.realpath(test.get_data_info(0)['img_path']).startswith(
        os.path.realpath(real_data))


def test_resize_cache_gives_the_pipeline_pixels(tmp_path):
    """Stored pre-resized PNGs go through the configs' pipeline to exactly
    the array the pipeline makes from the original JPEG."""
    from mmengine.dataset import Compose
    from mmpretrain.registry import TRANSFORMS
    labels = make_isic2018_like(tmp_path / 'src', dict(NV=2, MEL=1, DF=1),
                                image_size=40)
    table = build_data_root(str(tmp_path / 'src'), str(tmp_path / 'root'),
                            resize_to=24)
    assert len(table) == 4
    pipeline = Compose([
        TRANSFORMS.build(dict(type='LoadImageFromFile')),
        TRANSFORMS.build(dict(type='Resize', scale=(24, 24),
                              backend='pillow', interpolation='bilinear'))
    ])
    for image_id in labels:
        cached = tmp_path / 'root' / 'images' / f'{image_id}.png'
        assert cached.is_file() and not cached.is_symlink()
        original = tmp_path / 'src' / 'images' / f'{image_id}.jpg'
        a = pipeline(dict(img_path=str(original)))['img']
        b = pipeline(dict(img_path=str(cached)))['img']
        assert a.shape == (24, 24, 3) and np.array_equal(a, b)
