"""lmfloss_mm.results: one reader for every kind of run (grid runs of
both record versions, first-version cross-validation folds, ``runs.jsonl``
exports, plain MMEngine work folders), the metric lookup rule, and config
dumps read without executing them."""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from lmfloss_mm.datasets import HAM10000_CLASSES
from lmfloss_mm.results import RunRecord, load_runs, metric_value
from lmfloss_mm.results.predictions import load_predictions
from lmfloss_mm.results.record import AmbiguousMetricError
from lmfloss_mm.results.work_dir import read_config_dump
from tests.conftest import REPO

HAM_LMF = (REPO / 'configs/ham10000/'
           'resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py')


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def grid_v1(root: Path, seed: int, f1: float) -> Path:
    """A grid run as the first record version wrote it."""
    stem = 'resnet50_in1k-pre_1xb32-ce-100e_odir5k'
    return write_json(root / stem / f'seed-{seed}' / 'metrics.json', dict(
        config=f'configs/odir5k/{stem}.py', config_stem=stem, seed=seed,
        dataset='odir5k', backbone='resnet50', loss='ce',
        classes=['N', 'D'], metrics={'imbalanced/macro_f1': f1},
        predictions=f'work_dirs/elsewhere/{stem}/seed-{seed}/predictions.pkl',
        train_seconds=10.0, test_seconds=2.0, schema_version=1))


def legacy_fold(root: Path, loss: str, fold: int, f1: float) -> Path:
    """A cross-validation fold of the first version (``result.json``)."""
    return write_json(
        root / 'runs' / loss / f'fold{fold}_seed0' / 'result.json', dict(
            loss=loss, fold=fold, seed=0, preset='cpu', arch='resnet18-w16',
            img_size=48, epochs=12, n_folds=2, val_ratio=0.2, split_seed=0,
            config=f'configs/benchmark/resnet18-w16_48px_1xb32-{loss}-12e_'
            'isic2018-cv.py', classes=['a', 'b'], macro_f1=f1,
            f1_classwise=[f1 - 1, f1 + 1], time_s=30.0))


def work_folder(root: Path, macro_f1: float, seed=3) -> Path:
    """What ``mim train`` + ``mim test --work-dir W --out
    W/predictions.pkl`` leave: the dumped config, a training log folder,
    the test log and the predictions."""
    cfg = Config.fromfile(str(HAM_LMF))
    cfg.merge_from_dict({'randomness.seed': seed})
    root.mkdir(parents=True)
    cfg.dump(str(root / HAM_LMF.name))
    (root / '20250101_100000' / 'vis_data').mkdir(parents=True)
    (root / '20250101_100000' / '20250101_100000.log').write_text('train')
    write_json(root / '20250101_110000' / '20250101_110000.json', {
        'imbalanced/macro_f1': macro_f1, 'imbalanced/accuracy': 80.0,
        'data_time': 0.1, 'time': 0.2})
    with open(root / 'predictions.pkl', 'wb') as f:
        pickle.dump([dict(pred_score=np.array([0.9, 0.1] + [0.0] * 5),
                          gt_label=np.array([0]))], f)
    (root / 'best_imbalanced_macro_f1_epoch_1.pth').write_bytes(b'')
    return root


def test_every_kind_of_run_is_one_record(tmp_path):
    root = tmp_path / 'all'
    grid_v1(root / 'grid', 0, 50.0)
    predictions = root / 'grid' / \
        'resnet50_in1k-pre_1xb32-ce-100e_odir5k' / 'seed-0' / \
        'predictions.pkl'
    predictions.write_bytes(b'')  # the stored path is gone: found here
    legacy_fold(root / 'cv', 'ce', 0, 20.0)
    legacy_fold(root / 'cv', 'lmf', 0, 25.0)
    (root / 'cv' / 'runs.jsonl').write_text('{"not": "read"}\n')
    work_folder(root / 'mim', 61.5)
    warnings = []
    runs = {r.config_stem: r for r in load_runs([str(root)],
                                                warn=warnings.append)}
    assert warnings == []
    assert len(runs) == 4
    grid = runs['resnet50_in1k-pre_1xb32-ce-100e_odir5k']
    assert (grid.seed, grid.fold, grid.cell) == (0, None, ('odir5k',
                                                           'resnet50', 'ce'))
    assert grid.predictions == str(predictions)
    assert grid.seconds == 12.0
    fold = runs['resnet18-w16_48px_1xb32-lmf-12e_isic2018-cv']
    assert (fold.seed, fold.fold, fold.cell) == (
        0, 0, ('isic2018-cv', 'resnet18-w16', 'lmf'))
    assert fold.metric('macro_f1') == 25.0 and fold.seconds == 30.0
    mim = runs[HAM_LMF.stem]
    assert (mim.seed, mim.fold, mim.cell) == (3, None, ('ham10000',
                                                        'resnet50', 'lmf'))
    assert mim.metrics == {'imbalanced/macro_f1': 61.5,
                           'imbalanced/accuracy': 80.0}
    assert mim.classes == list(HAM10000_CLASSES)
    assert mim.predictions == str(root / 'mim' / 'predictions.pkl')
    scores, labels = load_predictions(mim.predictions)
    assert scores.shape == (1, 7) and labels.tolist() == [0]


def test_an_export_is_read_when_no_run_folder_is_below_it(tmp_path):
    legacy_fold(tmp_path / 'cv', 'ce', 0, 20.0)
    legacy_fold(tmp_path / 'cv', 'ce', 1, 22.0)
    records = load_runs([str(tmp_path / 'cv')])
    lines = ''.join(json.dumps(r.to_dict()) + '\n' for r in records)
    copy = tmp_path / 'copy'
    copy.mkdir()
    (copy / 'runs.jsonl').write_text(lines)
    again = load_runs([str(copy)])
    assert [(r.fold, r.metric('macro_f1')) for r in again] == [
        (0, 20.0), (1, 22.0)]
    assert again[0].info == records[0].info


def test_repeats_and_unreadable_files_are_warned_about(tmp_path):
    grid_v1(tmp_path / 'a', 0, 50.0)
    grid_v1(tmp_path / 'b', 0, 99.0)
    write_json(tmp_path / 'a' / 'broken' / 'metrics.json', [1, 2])
    warnings = []
    runs = load_runs([str(tmp_path / 'a'), str(tmp_path / 'b')],
                     warn=warnings.append)
    assert [r.metric('macro_f1') for r in runs] == [50.0]
    assert len(warnings) == 2
    assert 'broken' in warnings[0] and 'not a JSON object' in warnings[0]
    assert 'repeats' in warnings[1]
    # runs without a seed are never taken for repeats of each other
    work_folder(tmp_path / 'c1', 60.0, seed=None)
    work_folder(tmp_path / 'c2', 70.0, seed=None)
    runs = load_runs([str(tmp_path / 'c1'), str(tmp_path / 'c2')])
    assert [r.seed for r in runs] == [None, None]


def test_metric_lookup_rule():
    metrics = {'imbalanced/macro_f1': 1.0, 'accuracy': 2.0,
               'multi-label/mAP': 3.0, 'a/f1': 4.0, 'b/f1': 5.0}
    assert metric_value(metrics, 'macro_f1') == 1.0  # '<prefix>/<name>'
    assert metric_value(metrics, 'accuracy') == 2.0  # '<name>'
    assert metric_value(metrics, 'mAP') == 3.0  # the one '.../<name>'
    assert metric_value(metrics, 'f1', prefix='b') == 5.0
    assert metric_value(metrics, 'missing') is None
    with pytest.raises(AmbiguousMetricError, match=r"\['a/f1', 'b/f1'\]"):
        metric_value(metrics, 'f1')


def test_config_dumps_are_parsed_not_executed(tmp_path):
    marker = tmp_path / 'executed'
    dump = tmp_path / 'cfg.py'
    dump.write_text(
        "import os\n"
        f"side_effect = open({str(marker)!r}, 'w')\n"
        "model = dict(type='ImageClassifier', head=dict(loss=dict("
        "type='LMFLoss', max_m=-0.5, weights=[1, 2.5], pair=(1, None))))\n"
        "randomness = dict(seed=7)\n"
        "custom_hooks = [dict(type='SetClassCountsHook')]\n"
        "metainfo = {'classes': ('a', 'b')}\n"
        "unpacked = dict(**model)\n")
    settings = read_config_dump(str(dump))
    assert not marker.exists()
    assert settings == dict(
        model=dict(type='ImageClassifier', head=dict(loss=dict(
            type='LMFLoss', max_m=-0.5, weights=[1, 2.5], pair=(1, None)))),
        randomness=dict(seed=7),
        custom_hooks=[dict(type='SetClassCountsHook')],
        metainfo={'classes': ('a', 'b')})


def test_a_record_round_trips_through_its_file(tmp_path):
    record = RunRecord(
        path=str(tmp_path / 'metrics.json'), config='c.py', config_stem='c',
        seed=1, fold=2, dataset='d', backbone='b', loss='l',
        classes=['x', 'y'], metrics={'imbalanced/macro_f1': 3.5},
        predictions=None, info=dict(seconds=4.0, settings={'epochs': 3}))
    write_json(tmp_path / 'metrics.json', record.to_dict())
    [read] = load_runs([str(tmp_path)])
    assert read == record
    assert record.to_dict()['schema_version'] == 2
