"""Bad input raises errors that name the problem and the fix."""
import csv
import shutil

import pytest

from lmfloss_mm.datasets import (HAM10000, ISIC2019, ODIR5K, AnnotationError,
                                 DatasetLayoutError, make_fake_ham10000,
                                 make_fake_isic2019, make_fake_odir5k,
                                 read_odir5k_annotations)


def rewrite_csv(path, edit):
    """Apply ``edit(rows)`` to a CSV (rows include the header)."""
    with open(path, newline='', encoding='utf-8') as f:
        rows = list(csv.reader(f))
    rows = edit(rows)
    with open(path, 'w', newline='', encoding='utf-8') as f:
        csv.writer(f).writerows(rows)
    return rows


@pytest.fixture
def ham_root(tmp_path):
    return make_fake_ham10000(tmp_path / 'ham')


@pytest.fixture
def isic_root(tmp_path):
    return make_fake_isic2019(tmp_path / 'isic')


@pytest.fixture
def odir_root(tmp_path):
    return make_fake_odir5k(tmp_path / 'odir')


# ------------------------------------------------------------ missing files
def test_missing_data_root_prints_expected_tree(tmp_path):
    with pytest.raises(DatasetLayoutError) as err:
        HAM10000(str(tmp_path / 'nowhere'), split='all')
    message = str(err.value)
    assert 'nowhere' in message and 'is not a folder' in message
    assert 'HAM10000_metadata.csv' in message
    assert 'HAM10000_images_part_1' in message
    assert 'data_root' in message


def test_missing_metadata_prints_expected_tree(ham_root):
    (ham_root / 'HAM10000_metadata.csv').unlink()
    with pytest.raises(DatasetLayoutError) as err:
        HAM10000(str(ham_root), split='all')
    message = str(err.value)
    assert 'no metadata file' in message
    assert 'HAM10000_metadata.tab' in message
    assert 'HAM10000_images_part_2' in message  # the tree
    assert 'ann_file' in message


def test_missing_isic2018_ground_truth(ham_root):
    with pytest.raises(DatasetLayoutError) as err:
        HAM10000(str(ham_root), split='isic2018_test')
    assert 'ISIC2018_Task3_Test_GroundTruth' in str(err.value)


def test_missing_isic2019_metadata(isic_root):
    (isic_root / 'ISIC_2019_Training_Metadata.csv').unlink()
    with pytest.raises(DatasetLayoutError) as err:
        ISIC2019(str(isic_root), split='all')
    message = str(err.value)
    assert 'ISIC_2019_Training_Metadata.csv' in message
    assert 'lesion ids' in message


def test_ambiguous_annotation_files(ham_root):
    shutil.copy(ham_root / 'HAM10000_metadata.csv',
                ham_root / 'HAM10000_metadata.tab')
    with pytest.raises(DatasetLayoutError) as err:
        HAM10000(str(ham_root), split='all')
    message = str(err.value)
    assert 'several metadata files' in message and 'ann_file' in message


def test_missing_images_are_counted_and_named(ham_root):
    images = sorted((ham_root / 'HAM10000_images_part_2').glob('*.jpg'))[:3]
    for path in images:
        path.unlink()
    with pytest.raises(DatasetLayoutError) as err:
        HAM10000(str(ham_root), split='all')
    message = str(err.value)
    assert '3 of 86 images' in message
    assert images[0].stem in message
    assert 'HAM10000_images_part_2.zip' in message


def test_per_eye_keywords_missing_original_images(tmp_path):
    root = make_fake_odir5k(tmp_path / 'odir', organisers_annotation='csv')
    shutil.rmtree(root / 'ODIR-5K' / 'ODIR-5K' / 'Training Images')
    with pytest.raises(DatasetLayoutError) as err:
        ODIR5K(str(root), split='all', label_source='per_eye_keywords')
    message = str(err.value)
    assert 'were not found' in message
    assert 'Training Images' in message and '6,392' in message


# ------------------------------------------------------------ bad headers
def test_unexpected_ham10000_header(ham_root):
    path = ham_root / 'HAM10000_metadata.csv'
    rewrite_csv(path, lambda rows: [['lesion', 'image', 'diagnosis']] +
                [r[:3] for r in rows[1:]])
    with pytest.raises(AnnotationError) as err:
        HAM10000(str(ham_root), split='all')
    message = str(err.value)
    assert 'Unexpected header' in message
    assert 'lesion_id,image_id,dx,dx_type,age,sex,localization' in message
    assert 'found:    lesion,image,diagnosis' in message
    assert 'missing columns: lesion_id, image_id, dx' in message


def test_unexpected_isic2019_header(isic_root):
    path = isic_root / 'ISIC_2019_Training_GroundTruth.csv'
    rewrite_csv(path, lambda rows: [['image', 'MEL', 'NV', 'label']] +
                [r[:4] for r in rows[1:]])
    with pytest.raises(AnnotationError) as err:
        ISIC2019(str(isic_root), split='all')
    message = str(err.value)
    assert 'image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK' in message
    assert 'missing columns: BCC, AK, BKL, DF, VASC, SCC' in message


def test_kaggle_full_df_source_given_organisers_file(tmp_path):
    root = make_fake_odir5k(tmp_path / 'odir', organisers_annotation='csv')
    with pytest.raises(AnnotationError) as err:
        ODIR5K(str(root), split='all', ann_file='ODIR-5K/ODIR-5K/data.csv')
    message = str(err.value)
    assert "label_source='per_eye_keywords'" in message
    assert 'found:    ID,Patient Age' in message


# ------------------------------------------------------------ bad rows
def test_ham10000_row_without_label(ham_root):
    path = ham_root / 'HAM10000_metadata.csv'
    rows = rewrite_csv(path, lambda rows: rows[:5] + [rows[5][:2] + [''] +
                                                      rows[5][3:]] + rows[6:])
    with pytest.raises(AnnotationError) as err:
        HAM10000(str(ham_root), split='all')
    assert f'line 6 ({rows[5][1]}) has no label' in str(err.value)


def test_ham10000_unknown_dx(ham_root):
    path = ham_root / 'HAM10000_metadata.csv'
    rewrite_csv(path, lambda rows: rows[:2] + [rows[2][:2] + ['melanoma'] +
                                               rows[2][3:]] + rows[3:])
    with pytest.raises(AnnotationError) as err:
        HAM10000(str(ham_root), split='all')
    message = str(err.value)
    assert "unknown dx 'melanoma'" in message and 'akiec' in message


def test_ham10000_repeated_image(ham_root):
    path = ham_root / 'HAM10000_metadata.csv'
    rows = rewrite_csv(path, lambda rows: rows + [rows[7]])
    with pytest.raises(AnnotationError) as err:
        HAM10000(str(ham_root), split='all')
    assert f'listed more than once: {rows[7][1]}' in str(err.value)


@pytest.mark.parametrize('values,expected', [
    (['1.0', '1.0'] + ['0.0'] * 7, 'several labels (MEL, NV)'),
    (['0.0'] * 9, 'has no label'),
    (['0.0'] * 8 + ['1.0'], 'labelled UNK'),
    (['0.5', '0.5'] + ['0.0'] * 7, 'must be 0 or 1'),
    (['x'] + ['0.0'] * 8, 'must be numbers'),
])
def test_isic2019_bad_one_hot_rows(isic_root, values, expected):
    path = isic_root / 'ISIC_2019_Training_GroundTruth.csv'
    rows = rewrite_csv(path, lambda rows: rows[:3] + [[rows[3][0]] + values] +
                       rows[4:])
    with pytest.raises(AnnotationError) as err:
        ISIC2019(str(isic_root), split='all')
    message = str(err.value)
    assert expected in message
    assert f'line 4 ({rows[3][0]})' in message


def test_isic2019_metadata_without_row(isic_root):
    path = isic_root / 'ISIC_2019_Training_Metadata.csv'
    dropped = []

    def edit(rows):
        dropped.extend(r[0] for r in rows[-2:])
        return rows[:-2]

    rewrite_csv(path, edit)
    with pytest.raises(AnnotationError) as err:
        ISIC2019(str(isic_root), split='all')
    message = str(err.value)
    assert 'has no row for 2 image(s)' in message
    assert all(image in message for image in dropped)


@pytest.mark.parametrize('labels,expected', [
    ('[]', 'has no label'),
    ("['N', 'D']", "several labels ['N', 'D']"),
    ("['X']", "unknown label 'X'"),
])
def test_odir5k_bad_kaggle_labels(odir_root, labels, expected):
    path = odir_root / 'full_df.csv'

    def edit(rows):
        rows[4][16] = labels
        return rows

    rows = rewrite_csv(path, edit)
    with pytest.raises(AnnotationError) as err:
        ODIR5K(str(odir_root), split='all')
    message = str(err.value)
    assert expected in message
    assert f'line 5 ({rows[4][18][:-4]})' in message


def test_odir5k_labels_disagree_with_target(odir_root):
    path = odir_root / 'full_df.csv'

    def edit(rows):
        rows[2][17] = str([0, 0, 0, 0, 0, 0, 0, 1]
                          if rows[2][16] != "['O']" else [1] + [0] * 7)
        return rows

    rewrite_csv(path, edit)
    with pytest.raises(AnnotationError) as err:
        ODIR5K(str(odir_root), split='all')
    assert 'disagrees with target' in str(err.value)


def test_odir5k_patient_without_label(tmp_path):
    root = make_fake_odir5k(tmp_path / 'odir', organisers_annotation='csv')
    path = root / 'ODIR-5K' / 'ODIR-5K' / 'data.csv'

    def edit(rows):
        rows[3][7:15] = ['0'] * 8
        return rows

    rows = rewrite_csv(path, edit)
    with pytest.raises(AnnotationError) as err:
        read_odir5k_annotations(str(path), 'patient_multilabel')
    assert (f'line 4 (patient {rows[3][0]}) has no label'
            in str(err.value))


# ------------------------------------------------------------ bad options
def test_unknown_split(ham_root):
    with pytest.raises(ValueError) as err:
        HAM10000(str(ham_root), split='training')
    message = str(err.value)
    assert "unknown split 'training'" in message
    assert "'isic2018_test'" in message


def test_official_isic2018_split_only_for_ham10000(isic_root):
    with pytest.raises(ValueError, match="unknown split 'isic2018_test'"):
        ISIC2019(str(isic_root), split='isic2018_test')


def test_unknown_label_source(odir_root):
    with pytest.raises(ValueError) as err:
        ODIR5K(str(odir_root), label_source='kaggle')
    message = str(err.value)
    assert "unknown label_source 'kaggle'" in message
    assert "'per_eye_keywords'" in message


@pytest.mark.parametrize('ratios', [(0.7, 0.2, 0.2), (0.5, 0.5), (0, 0.5, 0.5),
                                    (0.8, -0.1, 0.3)])
def test_bad_split_ratios(ham_root, ratios):
    with pytest.raises(ValueError, match='split_ratios must be three'):
        HAM10000(str(ham_root), split_ratios=ratios)
