"""tools/benchmark_isic2018_cv.py and lmfloss_mm.benchmarking.
cross_validation: the configs and overrides of both presets (--dry-run),
one tiny end-to-end run on generated images (train, test, store, resume,
tables and figures), and reports of stored runs of the first version."""
import functools
import json
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config

from lmfloss_mm.benchmarking.cross_validation import (SETTING_KEYS,
                                                      SettingsMismatch,
                                                      check_settings,
                                                      settings_of)
from lmfloss_mm.results.predictions import load_predictions
from .conftest import REPO, make_isic2018_like

LOSSES = ('ce', 'focal', 'ldam', 'lmf')
CPU_CONFIG = 'configs/benchmark/resnet18-w16_48px_1xb32-{}-12e_isic2018-cv.py'
PAPER_CONFIG = 'configs/ham10000/{}_in1k-pre_1xb32-{}-100e_ham10000.py'
PRETRAINED = {
    'resnet50': 'resnet50_8xb32_in1k_20210831-ea4938fc.pth',
    'efficientnetv2-s': 'efficientnetv2-s_3rdparty_in1k_20221220-f0eaff9d.pth'
}


@functools.lru_cache(maxsize=None)
def paper_loss_cfg(loss, arch):
    return Config.fromfile(str(REPO / PAPER_CONFIG.format(arch, loss)))


def paper_loss(loss, arch='resnet50'):
    out = paper_loss_cfg(loss, arch).model.head.loss.to_dict()
    out.pop('_delete_', None)
    return out


def by_key(summaries):
    return {(s['loss'], s['fold'], s['seed']): s for s in summaries}


def check_datasets(summary, work_root, data_dir, fold, n_folds=5):
    split_file = os.path.join(work_root, data_dir, 'cv_splits',
                              f'cv{n_folds}-val20_seed0_fold{fold}.csv')
    for split in ('train', 'val', 'test'):
        assert summary['datasets'][split] == dict(
            type='HAM10000', data_root=os.path.join(work_root, data_dir),
            split=split, split_file=split_file)


def test_dry_run_cpu(bench_tool, tmp_path, capsys):
    root = str(tmp_path / 'bench')
    summaries = bench_tool.main(['--dry-run', '--work-root', root,
                                 '--seeds', '0', '1'])
    assert len(summaries) == 4 * 5 * 2
    assert not os.path.exists(root)  # a dry run writes nothing
    assert '40 runs planned' in capsys.readouterr().out
    # seed-major, then fold, then loss
    assert [(s['loss'], s['fold'], s['seed']) for s in summaries[:5]] == [
        ('ce', 0, 0), ('focal', 0, 0), ('ldam', 0, 0), ('lmf', 0, 0),
        ('ce', 1, 0)]
    runs = by_key(summaries)
    for loss in LOSSES:
        s = runs[(loss, 3, 1)]
        assert s['config'] == CPU_CONFIG.format(loss)
        assert s['loss_cfg'] == paper_loss(loss)  # the paper's loss settings
        assert s['backbone'] == dict(type='ResNet', depth=18, arch=None,
                                     base_channels=16, pretrained=None)
        assert s['head_in_channels'] == 128
        assert (s['img_size'], s['epochs'], s['batch_size']) == (48, 12, 32)
        assert s['optimizer'] == dict(type='Adam', lr=1e-3,
                                      weight_decay=5e-4)
        assert s['param_scheduler'] == [dict(type='StepLR', by_epoch=True,
                                             step_size=8, gamma=0.1)]
        assert s['save_best'] == 'imbalanced/macro_f1'
        assert dict(type='SetClassCountsHook') in s['custom_hooks']
        assert s['evaluator'] == dict(type='ImbalancedClsMetric',
                                      cls_num_list='auto')
        assert s['seed'] == 1 and s['num_workers'] == 0
        assert s['work_dir'] == os.path.join(root, 'runs', loss,
                                             'fold3_seed1')
        check_datasets(s, root, 'data_48px', 3)
    lmf = runs[('lmf', 0, 0)]['loss_cfg']
    assert (lmf['type'], lmf['ldam_weight'], lmf['focal_weight'],
            lmf['gamma'], lmf['max_m'], lmf['s'], lmf['class_weight'],
            lmf['cls_num_list']) == ('LMFLoss', 1.5, 1.0, 1.5, 0.5, 30.0,
                                     'margins', 'auto')
    focal = runs[('focal', 0, 0)]['loss_cfg']
    assert (focal['gamma'], focal['class_weight']) == (1.5, 'margins')
    ldam = runs[('ldam', 0, 0)]['loss_cfg']
    assert (ldam['max_m'], ldam['s'], ldam['class_weight']) == (0.5, 30.0,
                                                                'margins')


def test_dry_run_cpu_overrides(bench_tool, tmp_path):
    root = str(tmp_path)
    s = bench_tool.main([
        '--dry-run', '--work-root', root, '--losses', 'lmf', '--folds', '3',
        '--run-folds', '2', '--epochs', '20', '--img-size', '96',
        '--no-resize-cache', '--cfg-options', 'optim_wrapper.optimizer.lr=0.01'
    ])
    assert len(s) == 1 and (s[0]['fold'], s[0]['loss']) == (2, 'lmf')
    # the StepLR step keeps its share of training: 8 of 12 -> 13 of 20
    assert s[0]['param_scheduler'][0]['step_size'] == 13
    assert (s[0]['img_size'], s[0]['epochs']) == (96, 20)
    assert s[0]['optimizer']['lr'] == 0.01
    check_datasets(s[0], root, 'data', 2, n_folds=3)


@pytest.mark.parametrize('arch', sorted(PRETRAINED))
def test_dry_run_gpu(bench_tool, arch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default work root is cwd-relative
    summaries = bench_tool.main(['--gpu', '--arch', arch, '--dry-run'])
    root = str(tmp_path / 'work_dirs' / f'benchmark_isic2018_gpu_{arch}')
    assert len(summaries) == 20
    for s in summaries:
        assert s['config'] == PAPER_CONFIG.format(arch, s['loss'])
        assert s['loss_cfg'] == paper_loss(s['loss'], arch)
        assert s['backbone']['pretrained'].startswith(
            'https://download.openmmlab.com/')
        assert s['backbone']['pretrained'].endswith(PRETRAINED[arch])
        assert (s['img_size'], s['epochs'], s['batch_size']) == (224, 100, 32)
        assert s['optimizer'] == dict(type='Adam', lr=1e-4,
                                      weight_decay=5e-4)
        assert s['param_scheduler'][0]['step_size'] == 30
        assert s['num_workers'] == 4
        check_datasets(s, root, 'data', s['fold'])  # symlinks, no cache
        assert s['work_dir'] == os.path.join(root, 'runs', s['loss'],
                                             f'fold{s["fold"]}_seed0')
    assert not os.path.exists(root)


def test_gpu_epochs_scale_the_schedule(bench_tool, tmp_path):
    s = bench_tool.main(['--preset', 'gpu', '--dry-run', '--epochs', '50',
                         '--losses', 'ce', '--run-folds', '0',
                         '--work-root', str(tmp_path)])
    assert s[0]['epochs'] == 50 and s[0]['param_scheduler'][0][
        'step_size'] == 15
    assert s[0]['img_size'] == 224 and s[0]['backbone']['type'] == 'ResNet'
    assert s[0]['backbone']['depth'] == 50


def test_cpu_configs_differ_only_in_the_loss():
    cfgs = [Config.fromfile(str(REPO / CPU_CONFIG.format(loss))).to_dict()
            for loss in LOSSES]
    for cfg in cfgs:
        cfg['model']['head'].pop('loss')
    assert all(cfg == cfgs[0] for cfg in cfgs[1:])


def test_bad_arguments(bench_tool):
    for argv in (['--folds', '1'], ['--run-folds', '5'],
                 ['--val-ratio', '1.0'], ['--losses', 'bce']):
        with pytest.raises(SystemExit):
            bench_tool.parse_args(argv)


def test_tiny_benchmark_end_to_end(bench_tool, tmp_path, capsys,
                                   load_tool):
    """Two losses x two folds on 42 generated images, one epoch at 32 px:
    data root, split files, training, test of the best checkpoint, stored
    records, resume, the settings guard, and the tables and figures of the
    same work root."""
    source = tmp_path / 'src'
    make_isic2018_like(source, dict(MEL=6, NV=12, BCC=6, AKIEC=4, BKL=6,
                                    DF=4, VASC=4), image_size=40)
    root = tmp_path / 'bench'
    argv = ['--data', str(source), '--work-root', str(root), '--losses',
            'ce', 'lmf', '--folds', '2', '--epochs', '1', '--img-size', '32']
    records = bench_tool.main(argv)
    out = capsys.readouterr().out
    assert len(records) == 4 and '[4/4] lmf fold 1 seed 0: macro-F1' in out
    assert 'epoch 1/1, run ETA' in out and ', ETA ' in out
    tested = {}
    for r in records:
        settings = r.info['settings']
        assert (settings['epochs'], settings['img_size']) == (1, 32)
        assert (r.info['best_epoch'], r.info['resize_cache']) == (1, 32)
        assert (r.dataset, r.backbone) == ('isic2018-cv', 'resnet18-w16')
        assert r.classes == ['akiec', 'bcc', 'bkl', 'df', 'mel', 'nv',
                             'vasc']
        assert 0 <= r.metric('macro_f1') <= 100
        assert len(r.metric('f1_classwise')) == 7
        assert r.seconds > 0 and len(r.info['val_curve']) == 1
        # made by this process (the tool trains with one thread)
        provenance = r.info['provenance']
        assert provenance['packages']['torch'] == torch.__version__
        assert provenance['threads']['intra_op'] == 1
        # tested on exactly the held-out fold, trained on the split's train
        support = r.metric('support_classwise')
        assert support == r.info['split_counts']['test']
        assert r.info['train_counts'] == r.info['split_counts']['train']
        tested.setdefault(r.loss, []).append(sum(support))
        run = root / 'runs' / r.loss / f'fold{r.fold}_seed0'
        assert r.path == str(run / 'metrics.json')
        assert len(list(run.glob('best_imbalanced_macro_f1_epoch_1.pth'))) \
            == 1
        assert not list(run.glob('epoch_*.pth'))
        # the stored predictions are the tested ones
        scores, labels = load_predictions(r.predictions)
        assert np.bincount(labels, minlength=7).tolist() == support
        assert r.metric('accuracy') == pytest.approx(
            100 * (scores.argmax(1) == labels).mean())
    assert tested == {'ce': [21, 21], 'lmf': [21, 21]}  # 42 images, 2 folds
    assert len(list((root / 'data_32px' / 'images').glob('*.png'))) == 42
    for name in ('results.md', 'runs.csv', 'runs.jsonl'):
        assert (root / name).is_file()
    assert 'Made with lmfloss_mm ' in (root / 'results.md').read_text()
    stored = (root / 'runs.jsonl').read_text()
    # again: nothing is trained, the stored records are reported
    again = bench_tool.main(argv)
    assert 'stored, macro-F1' in capsys.readouterr().out
    assert again == records
    assert (root / 'runs.jsonl').read_text() == stored
    # other settings in the same work root are refused
    with pytest.raises(SystemExit, match='other settings'):
        bench_tool.main(argv[:-4] + ['--epochs', '2', '--img-size', '32'])
    assert json.loads(stored.splitlines()[0])['loss'] == 'ce'

    # the paper tables and the figures of the same folds, no retraining
    assert load_tool('make_tables').main(
        [str(root), '--out-dir', str(tmp_path / 'tables'), '--quiet',
         '--paired', 'ce']) == 0
    tables = (tmp_path / 'tables' / 'results.md').read_text()
    f1 = {loss: [r.metric('macro_f1') for r in records if r.loss == loss]
          for loss in ('ce', 'lmf')}
    assert '| isic2018-cv | resnet18-w16 | ' + ' | '.join(
        f'{np.mean(v):.2f} ± {np.std(v, ddof=1):.2f}'
        for v in f1.values()) + ' |' in tables
    assert 'n pairs: lmf 2' in tables
    written = load_tool('plot_results').main(
        [str(root), '--out-dir', str(tmp_path / 'plots')])
    assert {os.path.basename(os.path.dirname(p)) for p in written} >= {
        'per_class_f1', 'confusion', 'reliability'}


def test_settings_guard(bench_tool, tmp_path):
    args = bench_tool.parse_args(['--work-root', str(tmp_path),
                                  '--cfg-options', 'model.head.topk=(1,)'])
    settings = settings_of(bench_tool.options_of(args))
    assert settings['cfg_options'] == {'model.head.topk': [1]}
    stored = {k: settings[k] for k in SETTING_KEYS}
    check_settings(stored, settings, 'result.json')  # same: fine
    with pytest.raises(SettingsMismatch, match="'cfg_options'"):
        check_settings(dict(stored, cfg_options={}), settings, 'result.json')
    # runs stored before cfg_options was recorded count as {}
    del stored['cfg_options']
    plain = settings_of(bench_tool.options_of(
        bench_tool.parse_args(['--work-root', str(tmp_path)])))
    check_settings(stored, plain, 'result.json')


#: macro-F1 of (loss, fold) of the stored first-version records; seed 0
MACRO_F1 = {'ce': [40.0, 50.0, 45.0], 'lmf': [42.0, 53.0, 44.0],
            'ldam': [30.0, 35.0, 31.0]}


def write_legacy_results(root, epochs=12):
    """Folds as the first version of the tool stored them (result.json)."""
    for loss, values in MACRO_F1.items():
        for fold, f1 in enumerate(values):
            folder = root / 'runs' / loss / f'fold{fold}_seed0'
            folder.mkdir(parents=True)
            (folder / 'result.json').write_text(json.dumps(dict(
                preset='cpu', arch='resnet18-w16', img_size=48,
                epochs=epochs if (loss, fold) == ('ce', 0) else 12,
                n_folds=3, val_ratio=0.2, split_seed=0, loss=loss,
                fold=fold, seed=0, classes=['a', 'b'],
                config=f'configs/benchmark/resnet18-w16_48px_1xb32-{loss}-'
                '12e_isic2018-cv.py', macro_f1=f1, balanced_accuracy=f1 + 5,
                accuracy=70.0 + fold, f1_classwise=[f1 - 1, f1 + 1],
                support_classwise=[9, 19], best_epoch=10, time_s=100.0,
                torch='2.x', device='cpu', threads=1)))


def test_report_only_reads_the_first_version(bench_tool, tmp_path, capsys):
    write_legacy_results(tmp_path)
    records = bench_tool.main(['--report-only', '--work-root',
                               str(tmp_path)])
    assert len(records) == 9
    printed = capsys.readouterr().out
    markdown = (tmp_path / 'results.md').read_text()
    assert markdown.strip() in printed
    assert '3-fold cross-validation, cpu preset (resnet18-w16, 48 px, 12 ' \
        'epochs)' in markdown
    assert '| cross-entropy | 3 | 45.0 ± 5.0 | 50.0 ± 5.0 |' in markdown
    assert 'n pairs: ldam 3, lmf 3' in markdown
    assert 'torch 2.x, cpu, 1 threads' in markdown
    lines = (tmp_path / 'runs.jsonl').read_text().splitlines()
    assert [json.loads(line)['schema_version'] for line in lines] == [2] * 9
    assert sorted(json.loads(line)['metrics']['imbalanced/macro_f1']
                  for line in lines) == sorted(
                      v for values in MACRO_F1.values() for v in values)
    assert len((tmp_path / 'runs.csv').read_text().splitlines()) == 10
    # runs.jsonl alone is enough to rebuild the same report
    other = tmp_path / 'copy'
    other.mkdir()
    (other / 'runs.jsonl').write_text('\n'.join(lines) + '\n')
    bench_tool.main(['--report-only', '--work-root', str(other)])
    assert (other / 'results.md').read_text() == markdown


def test_report_only_without_results(bench_tool, tmp_path):
    with pytest.raises(SystemExit, match='No stored results'):
        bench_tool.main(['--report-only', '--work-root', str(tmp_path)])


def test_report_warns_about_mixed_settings(bench_tool, tmp_path):
    write_legacy_results(tmp_path, epochs=5)
    bench_tool.main(['--report-only', '--work-root', str(tmp_path)])
    assert "differ in ['epochs']" in (tmp_path / 'results.md').read_text()
