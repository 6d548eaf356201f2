"""An option that a dataset would ignore is an error naming it and the fix,
raised when the dataset is built (before any file is read)."""
import pytest

from lmfloss_mm.datasets import HAM10000, HAM10000_CLASSES, ODIR5K

ROOT = 'no/such/folder'  # never read: the errors come first


@pytest.mark.parametrize('split', ['isic2018_test', 'isic2018_val', 'all'])
def test_split_file_with_a_split_that_reads_none(split):
    with pytest.raises(ValueError, match=rf"split_file='s.csv' is not used "
                       rf"by split='{split}'"):
        HAM10000(ROOT, split=split, split_file='s.csv')


def test_ham10000_metadata_with_the_isic2018_ground_truth():
    with pytest.raises(ValueError, match=r"ann_file='meta.csv' .* not used "
                       r"by split='isic2018_test'.* isic2018_test_gt="):
        HAM10000(ROOT, split='isic2018_test', ann_file='meta.csv')


def test_fixed_classes_cannot_be_renamed():
    renamed = ('a', 'b', 'c', 'd', 'e', 'f', 'g')
    with pytest.raises(ValueError, match='HAM10000 has the fixed classes '
                       'akiec, bcc'):
        HAM10000(ROOT, classes=renamed, lazy_init=True)
    with pytest.raises(ValueError, match='fixed classes'):
        HAM10000(ROOT, metainfo=dict(classes=renamed), lazy_init=True)
    same = HAM10000(ROOT, classes=HAM10000_CLASSES, lazy_init=True)
    assert same.metainfo['classes'] == HAM10000_CLASSES


@pytest.mark.parametrize('label_source,option', [
    ('kaggle_full_df', dict(keyword_map={'normal fundus': 'N'})),
    ('kaggle_full_df', dict(ignore_keywords=())),
    ('kaggle_full_df', dict(exclude_keywords=('no fundus image', ))),
    ('patient_multilabel', dict(keyword_map={'normal fundus': 'N'})),
    ('patient_multilabel', dict(ignore_keywords=('lens dust', ))),
])
def test_odir5k_keyword_options_need_a_source_that_uses_them(
        label_source, option):
    name = next(iter(option))
    with pytest.raises(ValueError, match=rf'{name} is not used with '
                       rf"label_source='{label_source}'"):
        ODIR5K(ROOT, label_source=label_source, lazy_init=True, **option)


def test_odir5k_keyword_options_where_they_are_used():
    ODIR5K(ROOT, label_source='per_eye_keywords', ignore_keywords=(),
           keyword_map={'normal fundus': 'N'}, lazy_init=True)
    ODIR5K(ROOT, label_source='patient_multilabel',
           exclude_keywords=('no fundus image', ), lazy_init=True)
