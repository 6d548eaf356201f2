"""Grid spec and run layout without training: config names, selection from
the repository's configs, labels read from configs, run order, run states,
checkpoint choice, the test-log reader and the launcher commands."""
import json
import os
from pathlib import Path

import pytest
from mmengine.config import Config

from lmfloss_mm.fileio import dump_json_atomic
from lmfloss_mm.grid import (LaunchOptions, RunSpec, build_grid, launch,
                             run_state, select_configs)
from lmfloss_mm.grid.layout import clear_test_outputs
from lmfloss_mm.results import (config_labels, parse_config_name,
                                read_test_metrics)
from lmfloss_mm.runner.work_dir import select_checkpoint

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'


def test_parse_config_name():
    assert parse_config_name(
        'configs/odir5k/efficientnetv2-s_in1k-pre_1xb32-ldam-drw-100e_'
        'odir5k.py') == dict(backbone='efficientnetv2-s', pretrain='in1k-pre',
                             gpus='1', batch='32', loss='ldam-drw',
                             epochs='100e', dataset='odir5k')
    assert parse_config_name('configs/_base_/imbalanced_runtime.py') is None


def test_select_paper_grid_and_subset():
    paper = select_configs(str(CONFIGS), ['ham10000', 'isic2019', 'odir5k'],
                           ['resnet50', 'efficientnetv2-s'],
                           ['ce', 'focal', 'ldam', 'lmf'])
    assert len(paper) == 24
    assert len({parse_config_name(p)['loss'] for p in paper}) == 4
    subset = select_configs(str(CONFIGS), ['odir5k'], ['resnet50'],
                            ['lmf', 'ce'])
    assert [Path(p).name for p in subset] == [
        'resnet50_in1k-pre_1xb32-lmf-100e_odir5k.py',
        'resnet50_in1k-pre_1xb32-ce-100e_odir5k.py',
    ]
    assert select_configs(str(CONFIGS), ['odir5k'], None, ['nope']) == []


@pytest.mark.parametrize('name, labels', [
    ('odir5k/efficientnetv2-s_in1k-pre_1xb32-lmf-100e_odir5k.py',
     ('odir5k', 'efficientnetv2-s', 'lmf')),
    ('isic2019/resnet50_in1k-pre_1xb32-focal-100e_isic2019.py',
     ('isic2019', 'resnet50', 'focal')),
    # the name refines the loss label: LMFLoss on a cosine head
    ('ham10000/resnet50_in1k-pre_1xb32-lmf-cos-100e_ham10000.py',
     ('ham10000', 'resnet50', 'lmf-cos')),
    # the dataset from the config (the name's 'synthetic-ham10000' does
    # not extend 'ham10000'), the backbone refined by the name
    ('demo/resnet18-w16_32px_1xb32-ce-5e_synthetic-ham10000.py',
     ('ham10000', 'resnet18-w16', 'ce')),
    # a multi-label variant of the dataset keeps its own rows
    ('odir5k_multilabel/resnet50_in1k-pre_1xb32-asl-100e_odir5k-image.py',
     ('odir5k-image', 'resnet50', 'asl')),
])
def test_labels_of_repository_configs(name, labels):
    path = CONFIGS / name
    if not path.is_file():
        pytest.skip(f'{name} is not in this checkout')
    found = config_labels(Config.fromfile(str(path)), str(path))
    assert (found['dataset'], found['backbone'], found['loss']) == labels


def test_labels_from_config_then_name():
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(
            type='ClassBalancedDataset', oversample_thr=0.5,
            dataset=dict(type='ODIR5K'))),
        model=dict(backbone=dict(type='EfficientNetV2', arch='small'),
                   head=dict(loss=dict(type='LDAMLoss'))),
        custom_hooks=[dict(type='SetClassCountsHook'),
                      dict(type='DeferredReweightingHook', start_epoch=80)]))
    assert config_labels(cfg, 'whatever.py') == dict(
        dataset='odir5k', backbone='efficientnetv2-s', loss='ldam-drw')
    # unknown types: the name's fields, else the type
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(type='CustomDataset')),
        model=dict(backbone=dict(type='MyNet'),
                   head=dict(loss=dict(type='MyLoss')))))
    assert config_labels(cfg, 'mynet-x_scratch_2xb16-mine-5e_toy.py') == dict(
        dataset='toy', backbone='mynet-x', loss='mine')
    assert config_labels(cfg, 'free_name.py') == dict(
        dataset='customdataset', backbone='mynet', loss='myloss')


def test_build_grid_order_and_checks(tmp_path):
    a, b = 'x/a_in1k-pre_1xb32-ce-1e_d.py', 'x/b_in1k-pre_1xb32-ce-1e_d.py'
    specs = build_grid([a, b, a], [1, 0, 1], 'work')
    assert [(s.config, s.seed) for s in specs] == [(a, 1), (b, 1), (a, 0),
                                                    (b, 0)]
    assert specs[0].run_dir == os.path.join(
        'work', 'a_in1k-pre_1xb32-ce-1e_d', 'seed-1')
    with pytest.raises(ValueError, match='same name'):
        build_grid([a, 'y/' + Path(a).name], [0], 'work')


def test_run_states_and_checkpoint_choice(tmp_path):
    run = tmp_path / 'seed-0'
    run.mkdir()
    assert run_state(str(run)) == 'new'
    assert select_checkpoint(str(run)) == (None, None)
    for name in ('epoch_9.pth', 'epoch_10.pth'):
        (run / name).write_bytes(b'')
    assert run_state(str(run)) == 'resume'
    # no best checkpoint: the last one (numeric, not string, order)
    assert select_checkpoint(str(run)) == (str(run / 'epoch_10.pth'), 'last')
    (run / 'last_checkpoint').write_text(str(run / 'epoch_9.pth'))
    assert select_checkpoint(str(run)) == (str(run / 'epoch_9.pth'), 'last')
    for epoch in (2, 12):
        (run / f'best_imbalanced_macro_f1_epoch_{epoch}.pth').write_bytes(b'')
    (run / 'best_imbalanced_accuracy_epoch_20.pth').write_bytes(b'')
    assert select_checkpoint(str(run)) == (
        str(run / 'best_imbalanced_macro_f1_epoch_12.pth'), 'best')
    assert select_checkpoint(str(run), 'imbalanced/accuracy')[0].endswith(
        'best_imbalanced_accuracy_epoch_20.pth')
    (run / 'train_done.json').write_text('{}')
    assert run_state(str(run)) == 'test'
    dump_json_atomic({'a': 1}, str(run / 'metrics.json'))
    assert run_state(str(run)) == 'done'
    assert [p.name for p in run.iterdir() if p.name.endswith('.partial')
            ] == []
    assert json.loads((run / 'metrics.json').read_text()) == {'a': 1}


def test_read_test_metrics_newest_log_without_timings(tmp_path):
    test_dir = tmp_path / 'test'
    for stamp, acc in (('20250101_000000', 10.0), ('20250102_000000', 20.0)):
        folder = test_dir / stamp
        (folder / 'vis_data').mkdir(parents=True)
        (folder / f'{stamp}.json').write_text(json.dumps({
            'imbalanced/accuracy': acc, 'imbalanced/f1_classwise': [1.0, 2.0],
            'data_time': 0.1, 'time': 0.2}))
        (folder / 'vis_data' / f'{stamp}.json').write_text('{"x": 1}')
    assert read_test_metrics(str(test_dir)) == {
        'imbalanced/accuracy': 20.0, 'imbalanced/f1_classwise': [1.0, 2.0]}
    (tmp_path / 'predictions.pkl').write_bytes(b'x')
    clear_test_outputs(str(tmp_path))
    assert not test_dir.exists()
    assert not (tmp_path / 'predictions.pkl').exists()
    with pytest.raises(FileNotFoundError):
        read_test_metrics(str(test_dir))


def test_launcher_commands(monkeypatch):
    spec = RunSpec('c/x.py', 3, 'w')
    opts = LaunchOptions(cfg_options=['a.b=1'], train_script='train.py',
                         test_script='test.py', python='py')
    assert launch.train_command(spec, opts) == [
        'py', 'train.py', 'c/x.py', '--work-dir', 'w/x/seed-3', '--launcher',
        'none', '--cfg-options', 'a.b=1', 'randomness.seed=3'
    ]
    assert launch.test_command(spec, opts, 'w/x/seed-3/best.pth') == [
        'py', 'test.py', 'c/x.py', 'w/x/seed-3/best.pth', '--work-dir',
        'w/x/seed-3/test', '--out', 'w/x/seed-3/predictions.pkl',
        '--launcher', 'none', '--cfg-options', 'a.b=1', 'randomness.seed=3'
    ]
    slurm = LaunchOptions(launcher='slurm', gpus=16, partition='gpu',
                          srun_args='--time=2:00:00', amp=True,
                          train_script='train.py', test_script='test.py',
                          python='py')
    assert launch.train_command(spec, slurm, 'w/x/seed-3/epoch_2.pth') == [
        'srun', '-p', 'gpu', '--job-name=x-seed3-train', '--gres=gpu:8',
        '--ntasks=16', '--ntasks-per-node=8', '--cpus-per-task=5',
        '--kill-on-bad-exit=1', '--time=2:00:00', 'py', '-u', 'train.py',
        'c/x.py', '--work-dir', 'w/x/seed-3', '--resume',
        'w/x/seed-3/epoch_2.pth', '--launcher', 'slurm', '--amp',
        '--cfg-options', 'randomness.seed=3'
    ]
    monkeypatch.setenv('NNODES', '2')
    dist = LaunchOptions(launcher='pytorch', gpus=4, port=29600,
                         train_script='train.py', test_script='test.py',
                         python='py')
    assert launch.train_command(spec, dist)[:8] == [
        'py', '-m', 'torch.distributed.run', '--nnodes=2', '--node_rank=0',
        '--master_addr=127.0.0.1', '--nproc_per_node=4',
        '--master_port=29600'
    ]
    with pytest.raises(ValueError, match='work_dir'):
        LaunchOptions(cfg_options=['work_dir=elsewhere'])
