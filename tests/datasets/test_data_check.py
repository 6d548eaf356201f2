"""The pre-flight check and tools/check_data.py on generated datasets in the
official layouts with planted broken, grey-scale and RGBA images: every
broken image is reported once with its split, and nothing else is."""
import csv
import glob
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from lmfloss_mm.datasets import (HAM10000, ODIR5K, ImageLoadError,
                                 check_config, make_fake_ham10000,
                                 make_fake_isic2019, make_fake_odir5k)

REPO = Path(__file__).resolve().parents[2]
LOAD = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
SPLITS = ('train', 'val', 'test')


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'check_data', REPO / 'tools' / 'check_data.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config(root, dataset_type='HAM10000', pipeline=LOAD, **dataset_args):
    cfg = dict(default_scope='mmpretrain')
    for split in SPLITS:
        cfg[f'{split}_dataloader'] = dict(
            batch_size=2,
            dataset=dict(type=dataset_type, data_root=str(root), split=split,
                         pipeline=pipeline, **dataset_args))
    return Config(cfg)


def split_of(root):
    """image id -> split, read from the split file the datasets wrote."""
    (path, ) = glob.glob(str(Path(root) / 'lmfloss_splits' / '*.csv'))
    with open(path, newline='') as f:
        return {row['image_id']: row['split'] for row in csv.DictReader(f)}


def image_file(root, image_id):
    (path, ) = glob.glob(str(Path(root) / '**' / f'{image_id}.*'),
                         recursive=True)
    return path


def first_ids(splits, split, n):
    return sorted(i for i, s in splits.items() if s == split)[:n]


@pytest.fixture
def planted_ham(tmp_path):
    """HAM10000 with, in train: a zero-byte, a grey-scale and a 40x20 RGBA
    image; in val: a truncated and a garbage file; in test: a deleted
    image.  Returns the root, the split of each id and the expectations."""
    root = make_fake_ham10000(
        tmp_path / 'ham', images_per_lesion=1,
        counts=dict(akiec=3, bcc=3, bkl=3, df=3, mel=3, nv=8, vasc=3))
    init_default_scope('mmpretrain')
    HAM10000(str(root), split='train')  # writes the split file
    splits = split_of(root)
    empty, grey, rgba = first_ids(splits, 'train', 3)
    truncated, garbage = first_ids(splits, 'val', 2)
    (missing, ) = first_ids(splits, 'test', 1)
    path = {i: image_file(root, i)
            for i in (empty, grey, rgba, truncated, garbage, missing)}
    open(path[empty], 'wb').close()
    Image.open(path[grey]).convert('L').save(path[grey], 'JPEG')
    os.remove(path[rgba])
    path[rgba] = path[rgba][:-4] + '.png'
    Image.new('RGBA', (40, 20), (9, 9, 9, 0)).save(path[rgba])
    data = Path(path[truncated]).read_bytes()
    Path(path[truncated]).write_bytes(data[:len(data) // 2])
    Path(path[garbage]).write_bytes(b'\x89PNG but not really' * 20)
    os.remove(path[missing])
    broken = {(path[empty], 'empty', ('train', )),
              (path[truncated], 'truncated', ('val', )),
              (path[garbage], 'undecodable', ('val', )),
              (missing, 'missing', ('test', ))}
    converted = {(path[grey], 'L', ('train', )),
                 (path[rgba], 'RGBA', ('train', ))}
    return root, splits, broken, converted


def as_sets(report):
    return ({(r.path, r.status, tuple(s)) for r, s in report.broken()},
            {(r.path, r.mode, tuple(s)) for r, s in report.converted()})


def test_every_broken_image_is_reported_with_its_split(planted_ham):
    root, splits, broken, converted = planted_ham
    report = check_config(config(root), workers=1, progress=False)
    assert as_sets(report) == (broken, converted)
    assert not report.ok
    n = {s: sum(v == s for v in splits.values()) for s in SPLITS}
    summary = {s.split: report.split_summary(s) for s in report.listings}
    assert [s.split for s in report.listings] == list(SPLITS)
    assert summary['train']['samples'] == summary['train']['images'] == n[
        'train']
    assert summary['val']['samples'] == n['val']
    # test cannot be built while an image is missing: its images are
    # checked anyway, the sample count is unknown
    assert summary['test']['samples'] is None
    assert summary['test']['images'] == n['test']
    assert [summary[s]['broken'] for s in SPLITS] == [1, 2, 1]
    assert summary['val']['by_status'] == {'truncated': 1, 'undecodable': 1}
    assert summary['train']['width'] == [32, 32, 40]
    assert summary['train']['height'] == [20, 32, 32]
    assert summary['train']['modes'] == {'RGB': n['train'] - 3, 'L': 1,
                                         'RGBA': 1}
    assert summary['val']['width'] == summary['val']['height'] == [32] * 3
    text = report.format()
    for path, status, (split, ) in broken:
        assert any(line.split()[:3] == [split, status, path + ':']
                   for line in text.splitlines()), (path, text)
    assert 'Result: FAILED: 4 broken image file(s).' in text
    # datasets that cache decoded images are listed without decoding
    cached = check_config(config(root, cache_images=True), progress=False)
    assert as_sets(cached) == (broken, converted)


def test_the_tool_exits_non_zero_then_excludes(planted_ham, tmp_path,
                                               capsys):
    root, _, broken, converted = planted_ham
    cfg_file = tmp_path / 'cfg.py'
    config(root).dump(str(cfg_file))
    tool = load_tool()
    exclude, out = tmp_path / 'broken.txt', tmp_path / 'report.json'
    code = tool.main([str(cfg_file), '--workers', '2', '--out', str(out),
                      '--write-exclude', str(exclude)])
    printed = capsys.readouterr().out
    assert code == 1
    assert 'ETA' in printed  # MMEngine's progress bar
    saved = json.loads(out.read_text())
    assert not saved['ok']
    assert {(r['path'], r['status'], tuple(r['splits']))
            for r in saved['broken']} == broken
    excluded_ids = {Path(p).stem for p, _, _ in broken}
    assert {
        line.split()[0].split('.')[0]
        for line in exclude.read_text().splitlines()
        if line and not line.startswith('#')
    } == excluded_ids
    option = f'test_dataloader.dataset.exclude_file={exclude}'
    assert option in printed

    options = [f'{s}_dataloader.dataset.exclude_file={exclude}'
               for s in SPLITS]
    code = tool.main([str(cfg_file), '--workers', '1', '--no-progress',
                      '--cfg-options'] + options)
    printed = capsys.readouterr().out
    assert code == 0
    assert 'Result: OK, every image decodes.' in printed
    assert '| train | HAM10000 |' in printed
    report = check_config(
        config(root, exclude_file=str(exclude)), progress=False)
    assert as_sets(report) == (set(), converted)
    assert [len(s.excluded) for s in report.listings] == [1, 2, 1]


def test_isic2019_downsampled_images_are_checked(tmp_path):
    root = make_fake_isic2019(
        tmp_path / 'isic', n_ham=0, n_downsampled=3,
        counts=dict(MEL=4, NV=6, BCC=3, AK=3, BKL=3, DF=3, VASC=3, SCC=3))
    init_default_scope('mmpretrain')
    report = check_config(config(root, 'ISIC2019'), progress=False)
    assert report.ok
    splits = split_of(root)
    (image_id, ) = [i for i in splits if i.endswith('_downsampled')][:1]
    path = image_file(root, image_id)
    open(path, 'wb').close()
    report = check_config(config(root, 'ISIC2019'), progress=False)
    assert as_sets(report)[0] == {(path, 'empty', (splits[image_id], ))}


def test_odir_patient_pairs_check_both_eyes(tmp_path):
    root = make_fake_odir5k(
        tmp_path / 'odir', organisers_annotation='csv',
        counts=dict(N=10, D=3, G=3, C=3, A=3, H=3, M=3, O=3))
    pair = [dict(type='LoadEyePair'), dict(type='PackInputs')]
    args = dict(label_source='patient_multilabel', sample_unit='patient')
    init_default_scope('mmpretrain')
    val = ODIR5K(str(root), split='val', pipeline=pair, **args)
    splits = split_of(root)
    left = val.get_data_info(0)['left_img_path']
    right = val.get_data_info(1)['right_img_path']
    open(right, 'wb').close()
    Path(left).write_bytes(np.arange(300, dtype=np.uint8).tobytes())
    report = check_config(config(root, 'ODIR5K', pair, **args),
                          progress=False)
    assert as_sets(report)[0] == {(left, 'undecodable', ('val', )),
                                  (right, 'empty', ('val', ))}
    assert {splits[Path(p).stem] for p in (left, right)} == {'val'}
    summary = {s.split: report.split_summary(s) for s in report.listings}
    for split in SPLITS:
        dataset = ODIR5K(str(root), split=split, pipeline=pair, **args)
        assert summary[split]['samples'] == len(dataset)
        assert summary[split]['images'] == 2 * len(dataset)
    with pytest.raises(ImageLoadError, match=f'{right}: empty file'):
        val[1]


def test_ranks_share_the_decoding_and_get_the_same_report(planted_ham,
                                                          monkeypatch):
    """check_datasets(distributed=True) on two simulated ranks: each decodes
    every other file, and the merged report is the single-process one."""
    import lmfloss_mm.datasets.data_check as data_check
    root, _, broken, converted = planted_ham
    init_default_scope('mmpretrain')
    datasets = {s: HAM10000(str(root), split=s, pipeline=LOAD)
                for s in ('train', 'val')}
    single = data_check.check_datasets(datasets, progress=False)
    decoded, shares = [], {}
    original = data_check.check_image
    monkeypatch.setattr(data_check, 'check_image',
                        lambda *task: decoded.append(task[0]) or original(
                            *task))

    class Gathered(Exception):
        """Ends rank 1's run once its share is decoded."""

    def gather(rank, share):
        shares[rank] = share
        if rank == 1:
            raise Gathered
        return [shares[0], shares[1]]

    def run_rank(rank):
        decoded.clear()
        monkeypatch.setattr(data_check, 'get_dist_info', lambda: (rank, 2))
        monkeypatch.setattr(data_check, 'all_gather_object',
                            lambda share: gather(rank, share))
        return data_check.check_datasets(datasets, progress=False,
                                         distributed=True), list(decoded)

    with pytest.raises(Gathered):
        run_rank(1)
    paths_1 = list(decoded)
    report, paths_0 = run_rank(0)
    n_files = sum(len(r) for r in single.records.values())
    assert len(paths_0) + len(paths_1) == n_files
    assert not set(paths_0) & set(paths_1)
    assert report.records == single.records
    assert as_sets(report) == as_sets(single) == (
        {b for b in broken if b[2] != ('test', )}, converted)


def test_a_split_that_cannot_be_built_fails_the_check(tmp_path):
    cfg = config(tmp_path / 'nowhere')
    cfg.test_dataloader.dataset.type = 'NoSuchDataset'
    report = check_config(cfg, progress=False)
    assert not report.ok and report.broken() == []
    errors = {s.split: s.errors for s in report.listings}
    assert errors['train'] == errors['val'] and len(errors['train']) == 1
    assert errors['train'][0].startswith(
        "DatasetLayoutError: HAM10000: data_root '")
    assert 'NoSuchDataset' in errors['test'][0]
    assert report.format().endswith(
        'Result: FAILED: split(s) train, val, test could not be listed (see '
        'ERROR above).')
