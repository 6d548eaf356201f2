"""ODIR5K(sample_unit='patient') and LoadEyePair on generated data in the
official layouts: both eyes, the patient's labels, the patient split."""
import csv
import logging
from pathlib import Path

import mmcv
import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmpretrain.registry import TRANSFORMS
from PIL import Image

from lmfloss_mm.datasets import ODIR5K, ODIR5K_CLASSES, make_fake_odir5k
from lmfloss_mm.datasets.transforms import LoadEyePair

NON_FUNDUS = ('anterior segment image', 'no fundus image')


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return make_fake_odir5k(tmp_path_factory.mktemp('odir'),
                            organisers_annotation='csv')


def organiser_rows(root):
    path = Path(root) / 'ODIR-5K' / 'ODIR-5K' / 'data.csv'
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader(f))


def usable(keywords):
    return not any(k in keywords for k in NON_FUNDUS)


def expected_patients(root):
    """Patient id -> class indices, for patients whose two eyes are usable,
    read directly from the annotation file."""
    out = {}
    for row in organiser_rows(root):
        if usable(row['Left-Diagnostic Keywords']) and usable(
                row['Right-Diagnostic Keywords']):
            out[row['ID']] = [i for i, c in enumerate(ODIR5K_CLASSES)
                              if row[c] == '1']
    return out


def patient_dataset(root, split, **kwargs):
    return ODIR5K(str(root), split=split, label_source='patient_multilabel',
                  sample_unit='patient', **kwargs)


def test_one_sample_per_patient_with_both_eyes_and_its_labels(root):
    dataset = patient_dataset(root, 'all')
    want = expected_patients(root)
    assert len(want) == 36 and len(dataset) == len(want)  # 38 - 2 one-eyed
    assert dataset.multi_label
    seen = set()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert 'img_path' not in info
        pid = info['patient_id']
        assert Path(info['left_img_path']).name == f'{pid}_left.jpg'
        assert Path(info['right_img_path']).name == f'{pid}_right.jpg'
        assert info['gt_label'] == want[pid]
        assert dataset.get_cat_ids(i) == want[pid]
        seen.add(pid)
    assert seen == set(want)
    gt = dataset.get_gt_labels()
    assert gt.dtype == object and [list(g) for g in gt] == [
        want[dataset.get_data_info(i)['patient_id']]
        for i in range(len(dataset))]
    assert any(len(g) > 1 for g in gt)  # really multi-label


def test_the_patient_split_is_the_image_split_grouped(root):
    per_split = {}
    for split in ('train', 'val', 'test'):
        patients = patient_dataset(root, split)
        images = ODIR5K(str(root), split=split,
                        label_source='patient_multilabel')
        assert patients.split_file_used == images.split_file_used
        pids = [patients.get_data_info(i)['patient_id']
                for i in range(len(patients))]
        assert len(pids) == len(set(pids))
        image_pids = {Path(images.get_data_info(i)['img_path']).stem.split(
            '_')[0] for i in range(len(images))}
        # the same patients as the per-image split, minus one-eyed ones
        assert set(pids) == image_pids & set(expected_patients(root))
        per_split[split] = set(pids)
    assert all(per_split.values())
    assert not per_split['train'] & per_split['val']
    assert not per_split['train'] & per_split['test']
    assert not per_split['val'] & per_split['test']
    assert set().union(*per_split.values()) == set(expected_patients(root))


class ListHandler(logging.Handler):

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_one_eyed_patients_are_dropped_and_logged(root):
    logger = MMLogger.get_current_instance()
    handler = ListHandler()
    logger.addHandler(handler)
    try:
        patient_dataset(root, 'all')
    finally:
        logger.removeHandler(handler)
    log = '\n'.join(m for m in handler.messages if 'dropped' in m)
    assert 'dropped 2 patient(s)' in log
    one_eyed = sorted(r['ID'] for r in organiser_rows(root)
                      if r['ID'] not in expected_patients(root))
    assert all(pid in log for pid in one_eyed)


def test_load_eye_pair_puts_left_then_right(root):
    dataset = patient_dataset(
        root, 'val', pipeline=[dict(type='LoadEyePair')])
    info = dataset.get_data_info(0)
    left = mmcv.imread(info['left_img_path'])
    right = mmcv.imread(info['right_img_path'])
    assert not np.array_equal(left, right)
    results = dataset[0]
    img = results['img']
    assert img.shape == (32, 64, 3) and img.dtype == np.uint8
    assert results['img_shape'] == results['ori_shape'] == (32, 64)
    np.testing.assert_array_equal(img[:, :32], left)
    np.testing.assert_array_equal(img[:, 32:], right)


def test_load_eye_pair_equalises_sizes_and_eye_scale(tmp_path):
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    right = rng.integers(0, 256, (20, 50, 3), dtype=np.uint8)
    paths = {}
    for name, array in (('left', left), ('right', right)):
        paths[name] = str(tmp_path / f'1_{name}.png')  # lossless
        Image.fromarray(array[..., ::-1]).save(paths[name])  # BGR -> RGB
    sample = dict(left_img_path=paths['left'], right_img_path=paths['right'])
    out = TRANSFORMS.build(dict(type='LoadEyePair')).transform(dict(sample))
    assert out['img'].shape == (40, 60, 3)
    np.testing.assert_array_equal(out['img'][:, :30], left)
    np.testing.assert_array_equal(
        out['img'][:, 30:],
        mmcv.imresize(right, (30, 40), interpolation='bilinear',
                      backend='pillow'))
    scaled = LoadEyePair(eye_scale=(16, 8), to_float32=True).transform(
        dict(sample))
    assert scaled['img'].shape == (8, 32, 3)
    assert scaled['img'].dtype == np.float32
    with pytest.raises(KeyError, match='right_img_path'):
        LoadEyePair().transform(dict(left_img_path=paths['left']))
    with pytest.raises(ValueError, match='eye_scale'):
        LoadEyePair(eye_scale=(0, 8))


def test_packed_patient_sample_with_the_config_pipeline(root):
    from mmengine.config import Config
    cfg = Config.fromfile(str(
        Path(__file__).resolve().parents[2] / 'configs' / '_base_' /
        'datasets' / 'odir5k_multilabel_patient_bs32_224x448.py'))
    dataset = patient_dataset(root, 'test',
                              pipeline=cfg.test_dataloader.dataset.pipeline)
    packed = dataset[0]
    assert tuple(packed['inputs'].shape) == (3, 224, 448)
    assert packed['data_samples'].gt_label.tolist() == dataset.get_cat_ids(0)
    # each half is one eye (the two halves differ)
    assert not packed['inputs'][:, :, :224].equal(
        packed['inputs'][:, :, 224:])


def test_patient_unit_on_kaggle_full_df_only(tmp_path):
    root = make_fake_odir5k(tmp_path / 'kaggle')
    dataset = patient_dataset(root, 'all')
    with open(root / 'full_df.csv', newline='', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
    eyes = {}
    for row in rows:
        eyes.setdefault(row['ID'], []).append(row)
    both = {pid: [i for i, c in enumerate(ODIR5K_CLASSES) if r[0][c] == '1']
            for pid, r in eyes.items() if len(r) == 2}
    assert 0 < len(both) < len(eyes)  # some patients have one listed eye
    got = {dataset.get_data_info(i)['patient_id']: dataset.get_cat_ids(i)
           for i in range(len(dataset))}
    assert got == both


def test_errors(root):
    with pytest.raises(ValueError, match="needs label_source='patient_"):
        ODIR5K(str(root), label_source='per_eye_keywords',
               sample_unit='patient')
    with pytest.raises(ValueError, match='unknown sample_unit'):
        ODIR5K(str(root), label_source='patient_multilabel',
               sample_unit='eye')
    with pytest.raises(ValueError, match='LoadEyePair'):
        patient_dataset(root, 'train',
                        pipeline=[dict(type='LoadImageFromFile')])


def test_image_unit_is_unchanged(root):
    default = ODIR5K(str(root), split='train',
                     label_source='patient_multilabel')
    explicit = ODIR5K(str(root), split='train',
                      label_source='patient_multilabel', sample_unit='image')
    assert default.sample_unit == 'image'
    assert [default.get_data_info(i) for i in range(len(default))] == [
        explicit.get_data_info(i) for i in range(len(explicit))]
    assert set(default.get_data_info(0)) == {'img_path', 'gt_label',
                                             'sample_idx'}


def test_split_overlap_check_sees_both_eyes_of_every_patient(root):
    """CheckSplitOverlapHook (in the multi-label runtime) compares patients
    by both eye images: two files per patient, none shared by disjoint
    patient splits, the same files when a split is built again."""
    from lmfloss_mm.engine.hooks.check_split_overlap_hook import image_files
    train, val = patient_dataset(root, 'train'), patient_dataset(root, 'val')
    train_files, val_files = image_files(train), image_files(val)
    assert len(train_files) == 2 * len(train) and len(val_files) == 2 * len(
        val) and len(val) > 0
    assert not train_files & val_files
    assert image_files(patient_dataset(root, 'train')) == train_files
