"""Grouped, stratified, deterministic splits and the split file."""
import csv
import os
from collections import defaultdict

import numpy as np
import pytest

from lmfloss_mm.datasets import (HAM10000, ODIR5K, AnnotationTable, Sample,
                                 SplitFileError, make_fake_ham10000,
                                 make_fake_odir5k, make_grouped_split,
                                 read_split_file, split_class_counts,
                                 write_split_file)
from lmfloss_mm.datasets import splits as splits_module
from lmfloss_mm.datasets.splits import (cache_split_path, group_strata,
                                        resolve_split)


def random_table(n_groups=600, n_classes=5, seed=0, multi_label=False):
    """Imbalanced table with groups of 1-4 images of one class."""
    rng = np.random.default_rng(seed)
    probs = np.array([0.5, 0.25, 0.15, 0.07, 0.03])[:n_classes]
    samples = []
    for g in range(n_groups):
        label = int(rng.choice(n_classes, p=probs / probs.sum()))
        for k in range(int(rng.integers(1, 5))):
            if multi_label:
                extra = int(rng.integers(0, n_classes))
                value = tuple(sorted({0, label} | ({extra} if k else set())))
            else:
                value = label
            samples.append(Sample(f'img{g:04d}_{k}', value, f'G{g:04d}'))
    return AnnotationTable(
        tuple(f'c{i}' for i in range(n_classes)), samples, 'synthetic',
        multi_label=multi_label)


def splits_of_groups(table, assignment):
    result = defaultdict(set)
    for s in table.samples:
        result[s.group].add(assignment[s.image_id])
    return result


def test_deterministic_for_a_seed_and_different_for_another():
    table = random_table()
    first = make_grouped_split(table, seed=3)
    assert make_grouped_split(table, seed=3) == first
    # the input order does not matter
    shuffled = AnnotationTable(table.classes, table.samples[::-1], 'x')
    assert make_grouped_split(shuffled, seed=3) == first
    other = make_grouped_split(table, seed=4)
    changed = sum(first[i] != other[i] for i in first)
    assert changed > len(first) // 10


def test_golden_assignment():
    """Pins the algorithm (numpy PCG64) so a change is noticed."""
    samples = [Sample(f'i{k}', k % 3, f'g{k // 2}') for k in range(24)]
    table = AnnotationTable(('a', 'b', 'c'), samples, 'golden')
    assignment = make_grouped_split(table, (0.5, 0.25, 0.25), seed=0)
    assert ''.join(assignment[f'i{k}'][1] for k in range(24)) == (
        'rraarreeaaaarrrrrreerree')


def test_group_disjoint_ratios_and_stratified():
    table = random_table()
    assignment = make_grouped_split(table, (0.7, 0.15, 0.15), seed=0)
    assert set(assignment) == set(table.image_ids)
    assert all(len(s) == 1
               for s in splits_of_groups(table, assignment).values())
    counts = split_class_counts(table, assignment)
    totals = table.class_counts()
    for split, ratio in zip(('train', 'val', 'test'), (0.7, 0.15, 0.15)):
        fractions = counts[split] / totals
        assert np.all(np.abs(fractions - ratio) < 0.05), (split, fractions)
        assert np.all(counts[split] > 0)


def test_other_ratios_and_empty_val():
    table = random_table(seed=1)
    assignment = make_grouped_split(table, (0.8, 0.0, 0.2), seed=0)
    assert set(assignment.values()) == {'train', 'test'}
    n_test = sum(v == 'test' for v in assignment.values())
    assert abs(n_test / len(table) - 0.2) < 0.02


def test_tiny_class_goes_to_train_then_test():
    samples = [Sample(f'a{k}', 0, f'ga{k}') for k in range(20)]
    samples += [Sample('b0', 1, 'gb0'), Sample('b1', 1, 'gb1')]
    table = AnnotationTable(('a', 'b'), samples, 'tiny')
    assignment = make_grouped_split(table, seed=0)
    assert {assignment['b0'], assignment['b1']} == {'train', 'test'}


def test_multilabel_stratum_is_rarest_positive_class():
    samples = [Sample('x0', (0, 2), 'p0'), Sample('x1', (0, ), 'p0'),
               Sample('y0', (0, 1), 'p1'), Sample('z0', (0, ), 'p2')]
    table = AnnotationTable(('common', 'mid', 'rare'), samples, 'm',
                            multi_label=True)
    # counts: common 4, mid 1, rare 1 -> tie broken by class index
    assert group_strata(table) == {'p0': 2, 'p1': 1, 'p2': 0}
    table = random_table(multi_label=True)
    assignment = make_grouped_split(table, seed=0)
    assert all(len(s) == 1
               for s in splits_of_groups(table, assignment).values())
    counts = split_class_counts(table, assignment)
    assert all(np.all(counts[s] > 0) for s in counts)


def test_dataset_splits_partition_all_and_keep_lesions_together(tmp_path):
    root = make_fake_ham10000(tmp_path / 'ham', images_per_lesion=4)
    parts = {s: HAM10000(str(root), split=s) for s in ('train', 'val', 'test')}
    everything = HAM10000(str(root), split='all')
    paths = {s: {d.get_data_info(i)['img_path'] for i in range(len(d))}
             for s, d in parts.items()}
    all_paths = {everything.get_data_info(i)['img_path']
                 for i in range(len(everything))}
    assert sum(len(p) for p in paths.values()) == len(all_paths) == 86
    assert set.union(*paths.values()) == all_paths
    lesion = {}
    with open(root / 'HAM10000_metadata.csv', newline='') as f:
        for row in csv.DictReader(f):
            lesion[row['image_id']] = row['lesion_id']
    split_of_lesion = defaultdict(set)
    for split, split_paths in paths.items():
        for p in split_paths:
            split_of_lesion[lesion[os.path.basename(p)[:-4]]].add(split)
    assert max(len(s) for s in split_of_lesion.values()) == 1
    assert len(split_of_lesion) < 86  # some lesions have several images
    for dataset in parts.values():  # stratified: every class in every split
        assert np.all(np.bincount(dataset.get_gt_labels(), minlength=7) > 0)


def test_odir_patients_are_not_split(tmp_path):
    root = make_fake_odir5k(tmp_path / 'odir')
    patient_split = defaultdict(set)
    for split in ('train', 'val', 'test'):
        dataset = ODIR5K(str(root), split=split)
        for i in range(len(dataset)):
            name = os.path.basename(dataset.get_data_info(i)['img_path'])
            patient_split[name.split('_')[0]].add(split)
    assert max(len(s) for s in patient_split.values()) == 1
    assert sum(len(s) for s in patient_split.values()) == len(patient_split)


# ------------------------------------------------------------- split files
def test_default_split_file_written_and_reused(tmp_path):
    root = make_fake_ham10000(tmp_path / 'ham')
    train = HAM10000(str(root), split='train', split_seed=5)
    path = root / 'lmfloss_splits' / 'ham10000_70-15-15_seed5.csv'
    assert train.split_file_used == str(path) and path.is_file()
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ['image_id', 'group', 'label', 'split']
    assert len(rows) == 86 and rows[0]['group'].startswith('HAM_')
    assert {r['label'] for r in rows} == {'akiec', 'bcc', 'bkl', 'df', 'mel',
                                          'nv', 'vasc'}
    n_train = sum(r['split'] == 'train' for r in rows)
    assert len(train) == n_train
    # an edited file is honoured (it is read, not recomputed)
    groups = {r['group'] for r in rows if r['split'] == 'val'}
    for r in rows:
        if r['group'] in groups:
            r['split'] = 'train'
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert len(HAM10000(str(root), split='train', split_seed=5)) == (
        n_train + sum(r['group'] in groups for r in rows))
    with pytest.raises(ValueError) as err:
        HAM10000(str(root), split='val', split_seed=5)
    assert "split 'val' has no image" in str(err.value)
    assert str(path) in str(err.value)


def test_split_file_path_round_trip(tmp_path):
    root = make_fake_ham10000(tmp_path / 'ham')
    target = tmp_path / 'mine' / 'split.csv'
    first = HAM10000(str(root), split='test', split_file=str(target),
                     split_seed=2)
    assert target.is_file()
    assert not (root / 'lmfloss_splits').exists()
    # same file, other seed argument: the file decides
    second = HAM10000(str(root), split='test', split_file=str(target),
                      split_seed=7)
    assert second.get_gt_labels().tolist() == first.get_gt_labels().tolist()
    # relative paths are relative to data_root
    HAM10000(str(root), split='val', split_file='custom/s.csv')
    assert (root / 'custom' / 's.csv').is_file()
    table = HAM10000(str(root), split='all', lazy_init=True).load_annotations()
    assert read_split_file(str(target), table) == make_grouped_split(
        table, seed=2)


def test_read_only_root_falls_back_to_cache(tmp_path, monkeypatch,
                                            split_cache):
    root = make_fake_ham10000(tmp_path / 'ham')
    real_write = splits_module.write_split_file

    def write(path, table, assignment):
        if str(path).startswith(str(root)):
            raise PermissionError(13, 'Permission denied')
        return real_write(path, table, assignment)

    monkeypatch.setattr(splits_module, 'write_split_file', write)
    dataset = HAM10000(str(root), split='train')
    expected = cache_split_path(str(root), 'ham10000_70-15-15_seed0.csv')
    assert dataset.split_file_used == expected
    assert expected.startswith(str(split_cache)) and os.path.isfile(expected)
    # next time the cached file is found and read
    again = HAM10000(str(root), split='train')
    assert again.split_file_used == expected
    assert len(again) == len(dataset)


def write_rows(path, rows, header=('image_id', 'group', 'label', 'split')):
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def good_split(tmp_path):
    root = make_fake_ham10000(tmp_path / 'ham')
    table = HAM10000(str(root), split='all', lazy_init=True).load_annotations()
    assignment = make_grouped_split(table)
    path = tmp_path / 'split.csv'
    write_split_file(str(path), table, assignment)
    with open(path, newline='') as f:
        rows = list(csv.reader(f))[1:]
    return root, table, path, rows


def test_bad_split_header(good_split):
    root, table, path, rows = good_split
    write_rows(path, [r[:2] for r in rows], header=('image', 'split'))
    with pytest.raises(SplitFileError) as err:
        HAM10000(str(root), split_file=str(path))
    message = str(err.value)
    assert 'expected: image_id,group,label,split' in message
    assert 'found:    image,split' in message


def test_bad_split_name(good_split):
    root, table, path, rows = good_split
    rows[0][3] = 'validation'
    write_rows(path, rows)
    with pytest.raises(SplitFileError, match=r"unknown split name\(s\) "
                       r"\['validation'\]"):
        read_split_file(str(path), table)


def test_duplicate_id_in_split_file(good_split):
    root, table, path, rows = good_split
    write_rows(path, rows + [rows[4]])
    with pytest.raises(SplitFileError) as err:
        read_split_file(str(path), table)
    assert f'occur more than once: {rows[4][0]}' in str(err.value)


def test_unknown_id_in_split_file(good_split):
    root, table, path, rows = good_split
    write_rows(path, rows + [['ISIC_9999999', 'HAM_x', 'nv', 'train']])
    with pytest.raises(SplitFileError) as err:
        read_split_file(str(path), table)
    message = str(err.value)
    assert '1 image id(s) are not in the annotations' in message
    assert 'ISIC_9999999' in message


def test_image_missing_from_split_file(good_split):
    root, table, path, rows = good_split
    write_rows(path, rows[:-3])
    with pytest.raises(SplitFileError) as err:
        HAM10000(str(root), split='train', split_file=str(path))
    message = str(err.value)
    assert '3 annotated image(s) have no split' in message
    assert rows[-1][0] in message


def test_lesion_across_splits_in_split_file(good_split):
    root, table, path, rows = good_split
    by_group = defaultdict(list)
    for row in rows:
        by_group[row[1]].append(row)
    group, members = next((g, m) for g, m in by_group.items() if len(m) > 1)
    for member in members:
        member[3] = 'test'
    members[0][3] = 'train'
    write_rows(path, rows)
    with pytest.raises(SplitFileError) as err:
        read_split_file(str(path), table)
    message = str(err.value)
    assert 'more than one split' in message
    assert f'{group} (test/train)' in message


def test_resolve_split_with_bad_ratio_values():
    table = random_table(n_groups=30)
    with pytest.raises(ValueError, match='sum to 1'):
        resolve_split(table, 'x', '', split_file='', ratios=(0.6, 0.2, 0.1))
