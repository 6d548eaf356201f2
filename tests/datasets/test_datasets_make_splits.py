"""tools/make_splits.py writes the split file the datasets read."""
import csv
import importlib.util
from pathlib import Path

import pytest

from lmfloss_mm.datasets import (ISIC2019, ODIR5K, make_fake_isic2019,
                                 make_fake_odir5k)

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
    header = out.splitlines()[1].split()
    assert header == ['class', 'train', 'val', 'test', 'total']
    totals = {line.split()[0]: int(line.split()[-1])
              for line in out.splitlines()[2:10]}
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
