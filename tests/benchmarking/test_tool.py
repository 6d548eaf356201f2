"""tools/benchmark_isic2018_cv.py: the configs and overrides of both presets
(--dry-run), and one tiny end-to-end run on generated images (train, test,
store, resume)."""
import functools
import json
import os

import pytest
from mmengine.config import Config

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


def test_tiny_benchmark_end_to_end(bench_tool, tmp_path, capsys):
    """Two losses x two folds on 42 generated images, one epoch at 32 px:
    data root, split files, training, test of the best checkpoint, stored
    results, resume and the settings guard."""
    source = tmp_path / 'src'
    make_isic2018_like(source, dict(MEL=6, NV=12, BCC=6, AKIEC=4, BKL=6,
                                    DF=4, VASC=4), image_size=40)
    root = tmp_path / 'bench'
    argv = ['--data', str(source), '--work-root', str(root), '--losses',
            'ce', 'lmf', '--folds', '2', '--epochs', '1', '--img-size', '32']
    records = bench_tool.main(argv)
    out = capsys.readouterr().out
    assert len(records) == 4 and '[4/4] lmf fold 1 seed 0: macro-F1' in out
    tested = {}
    for r in records:
        assert (r['epochs'], r['img_size'], r['best_epoch']) == (1, 32, 1)
        assert r['resize_cache'] == 32
        assert r['classes'] == ['akiec', 'bcc', 'bkl', 'df', 'mel', 'nv',
                                'vasc']
        assert 0 <= r['macro_f1'] <= 100 and len(r['f1_classwise']) == 7
        assert r['time_s'] > 0 and len(r['val_curve']) == 1
        # tested on exactly the held-out fold, trained on the split's train
        assert sum(r['support_classwise']) == sum(r['split_counts']['test'])
        assert r['support_classwise'] == r['split_counts']['test']
        assert r['train_counts'] == r['split_counts']['train']
        tested.setdefault(r['loss'], []).append(sum(r['support_classwise']))
        run = root / 'runs' / r['loss'] / f'fold{r["fold"]}_seed0'
        assert len(list(run.glob('best_imbalanced_macro_f1_epoch_1.pth'))) \
            == 1
        assert not list(run.glob('epoch_*.pth'))
    assert tested == {'ce': [21, 21], 'lmf': [21, 21]}  # 42 images, 2 folds
    assert len(list((root / 'data_32px' / 'images').glob('*.png'))) == 42
    for name in ('results.md', 'results.csv', 'runs.jsonl'):
        assert (root / name).is_file()
    stored = (root / 'runs.jsonl').read_text()
    # again: nothing is trained, the stored results are reported
    again = bench_tool.main(argv)
    assert 'stored, macro-F1' in capsys.readouterr().out
    assert [r['macro_f1'] for r in again] == [r['macro_f1'] for r in records]
    assert (root / 'runs.jsonl').read_text() == stored
    # other settings in the same work root are refused
    with pytest.raises(SystemExit, match='other settings'):
        bench_tool.main(argv[:-4] + ['--epochs', '2', '--img-size', '32'])
    assert json.loads(stored.splitlines()[0])['loss'] == 'ce'


def test_settings_guard(bench_tool, tmp_path):
    args = bench_tool.parse_args(['--work-root', str(tmp_path),
                                  '--cfg-options', 'model.head.topk=(1,)'])
    settings = bench_tool.settings_of(args)
    assert settings['cfg_options'] == {'model.head.topk': [1]}
    stored = {k: settings[k] for k in bench_tool.SETTING_KEYS}
    bench_tool.check_settings(stored, settings, 'result.json')  # same: fine
    with pytest.raises(SystemExit, match="'cfg_options'"):
        bench_tool.check_settings(dict(stored, cfg_options={}), settings,
                                  'result.json')
    # results stored before cfg_options was recorded count as {}
    del stored['cfg_options']
    plain = bench_tool.settings_of(
        bench_tool.parse_args(['--work-root', str(tmp_path)]))
    bench_tool.check_settings(stored, plain, 'result.json')
