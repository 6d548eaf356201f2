"""tools/make_splits.py writes the split file the datasets read."""
import csv
import importlib.util
from pathlib import Path

import pytest

from lmfloss_mm.datasets import (ISIC2019, ODIR5K, CSVImageDataset,
                                 make_fake_ham10000, make_fake_image_csv,
                                 make_fake_isic2019, make_fake_odir5k)

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'make_splits.py'


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('make_splits', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_location_is_used_by_the_dataset(tool, tmp_path, capsys):
    root = make_fake_isic2019(tmp_path / 'isic')
    assert tool.main(['ISIC2019', str(root), '--seed', '3',
                      '--exclude-ham10000']) == 0
    out = capsys.readouterr().out
    path = root / 'lmfloss_splits' / 'isic2019_noham10000_70-15-15_seed3.csv'
    assert f'Wrote {path}' in out
    assert 'ISIC2019: 52 images' in out  # 64 - 12 HAM10000 images
    # the table follows the summary line (logged warnings may come first)
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith('ISIC2019: 52 images')) + 1
    header = lines[start].split()
    assert header == ['class', 'train', 'val', 'test', 'total']
    totals = {line.split()[0]: int(line.split()[-1])
              for line in lines[start + 1:start + 9]}
    assert totals == dict(MEL=8, NV=20, BCC=7, AK=4, BKL=5, DF=3, VASC=2,
                          SCC=3)
    dataset = ISIC2019(str(root), split='train', split_seed=3,
                       exclude_ham10000=True)
    assert dataset.split_file_used == str(path)
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    assert len(dataset) == sum(r['split'] == 'train' for r in rows)


def test_out_ratios_and_label_source(tool, tmp_path, capsys):
    root = make_fake_odir5k(tmp_path / 'odir', organisers_annotation='csv')
    out_file = tmp_path / 'odir_split.csv'
    tool.main(['ODIR5K', str(root), '--out', str(out_file), '--ratios', '0.6',
               '0.2', '0.2', '--label-source', 'per_eye_keywords'])
    out = capsys.readouterr().out
    assert f"split_file='{out_file}'" in out
    images = out.splitlines()[-3].split()
    assert images[0] == 'images' and images[-1] == '72'
    dataset = ODIR5K(str(root), split='val', split_file=str(out_file),
                     label_source='per_eye_keywords')
    assert len(dataset) == int(images[2])
    with pytest.raises(SystemExit):
        tool.main(['ODIR5K', str(root), '--label-source', 'nonsense'])


@pytest.mark.parametrize('name', ['ham10000', 'HAM10000', 'Ham10000'])
def test_dataset_name_in_any_case(tool, tmp_path, capsys, name):
    root = make_fake_ham10000(tmp_path / 'ham')
    assert tool.main([name, str(root)]) == 0
    out = capsys.readouterr().out
    path = root / 'lmfloss_splits' / 'ham10000_70-15-15_seed0.csv'
    assert 'HAM10000: 86 images' in out and path.is_file()


def test_unknown_dataset_lists_the_choices(tool, capsys):
    with pytest.raises(SystemExit):
        tool.main(['ham', 'somewhere'])
    assert ("unknown dataset 'ham'; choose one of HAM10000, ISIC2019, "
            'ODIR5K, CSVImageDataset (any case)') in capsys.readouterr().err


def test_csv_dataset_split_is_read_by_the_dataset(tool, tmp_path, capsys):
    root = make_fake_image_csv(tmp_path / 'data', dict(a=9, b=6, c=4),
                               group_column='patient', label_column='dx')
    assert tool.main(['csvimagedataset', str(root), '--ann-file',
                      'labels.csv', '--group-column', 'patient']) == 0
    out = capsys.readouterr().out
    path = root / 'lmfloss_splits' / 'labels_by-patient_70-15-15_seed0.csv'
    assert f'Wrote {path}' in out
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    with open(root / 'labels.csv', newline='') as f:
        labels = {r['image']: (r['dx'], r['patient'])
                  for r in csv.DictReader(f)}
    assert {r['image_id']: (r['label'], r['group']) for r in rows} == labels
    for split in ('train', 'val', 'test'):
        dataset = CSVImageDataset(str(root), split=split,
                                  ann_file='labels.csv',
                                  group_column='patient')
        assert dataset.split_file_used == str(path)
        assert len(dataset) == sum(r['split'] == split for r in rows)
