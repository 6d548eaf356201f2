"""``tools/run_grid.py`` end to end: two tiny configs (CE, LMF) x two seeds
really trained and tested by MMPretrain's ``train.py`` / ``test.py`` in
subprocesses, a restart that skips finished runs and resumes an
interrupted one, a broken config that fails without stopping the grid,
then ``tools/make_tables.py`` on the result.

The interrupted run is made by the very command the grid runs, stopped
after its first of two epochs (``train_cfg.max_epochs=1``): the folder then
holds what a kill after epoch 1 leaves (``epoch_1.pth``,
``last_checkpoint``, logs; no ``train_done.json``, no ``metrics.json``).
"""
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lmfloss_mm.grid import LaunchOptions, RunSpec, run_state, train_command
from lmfloss_mm.runner import load_checkpoint_file, load_pickle_file

from .tiny_grid import CLASSES, COUNTS, MAX_EPOCHS

SCALAR_KEYS = ('accuracy', 'balanced_accuracy', 'macro_precision',
               'macro_recall', 'macro_f1', 'weighted_f1', 'few_shot_acc',
               'auc_macro', 'ece')
LIST_KEYS = ('precision_classwise', 'recall_classwise', 'f1_classwise',
             'support_classwise', 'confusion_matrix')


def read(path):
    return json.loads(Path(path).read_text())


def checkpoint_meta(path):
    return load_checkpoint_file(path, map_location='cpu')['meta']


def check_finished_run(run_dir: Path, config: Path, seed: int, loss: str):
    """Everything ``metrics.json`` claims, checked against the files."""
    record = read(run_dir / 'metrics.json')
    assert record['config'] == str(config)
    assert record['config_stem'] == config.stem
    assert record['seed'] == seed
    # dataset from the file name (CustomDataset is no project dataset),
    # backbone (refined by the name: resnet18-w8) and loss from the config
    assert (record['dataset'], record['backbone'],
            record['loss']) == ('tiny', 'resnet18-w8', loss)
    assert record['classes'] == list(CLASSES)
    assert record['train_seconds'] > 0 and record['test_seconds'] > 0
    metrics = record['metrics']
    assert set(metrics) == {f'imbalanced/{k}'
                            for k in SCALAR_KEYS + LIST_KEYS}
    # the test split (9/5/3), not the validation split (6/3/2)
    assert metrics['imbalanced/support_classwise'] == list(COUNTS['test'])

    # the checkpoint tested: the best one, of this run, trained with `seed`
    checkpoint = Path(record['checkpoint'])
    assert checkpoint.parent == run_dir and checkpoint.is_file()
    assert checkpoint.name.startswith('best_imbalanced_macro_f1_epoch_')
    assert record['checkpoint_kind'] == 'best'
    assert checkpoint_meta(checkpoint)['seed'] == seed

    # the metrics are those of predictions.pkl (the same test run)
    samples = load_pickle_file(run_dir / 'predictions.pkl')
    assert len(samples) == sum(COUNTS['test'])
    gt = np.array([int(s['gt_label']) for s in samples])
    pred = np.array([int(s['pred_score'].argmax()) for s in samples])
    confusion = np.zeros((3, 3), int)
    np.add.at(confusion, (gt, pred), 1)
    assert metrics['imbalanced/confusion_matrix'] == confusion.tolist()
    assert metrics['imbalanced/accuracy'] == pytest.approx(
        100 * (gt == pred).mean())
    return record


@pytest.mark.slow
def test_grid_restart_resume_and_tables(tiny, sequential_seed0, capsys,
                                        monkeypatch, load_tool):
    # one thread per training process: faster for these tiny models
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    run_grid = load_tool('run_grid')
    ce, lmf, work = tiny['ce'], tiny['lmf'], tiny['work']

    # 1. both configs with seed 0 (the fixture runs them)
    code, out = sequential_seed0
    assert code == 0, out
    assert f'[1/2] {ce.stem} seed=0 ... done in' in out
    assert f'[2/2] {lmf.stem} seed=0 ... done in' in out
    assert ', ETA ' in out.splitlines()[0]
    assert '2 done now, 0 skipped (already done), 0 failed' in out
    first = {
        (cfg.stem, 0): check_finished_run(work / cfg.stem / 'seed-0', cfg,
                                          0, loss)
        for cfg, loss in ((ce, 'ce'), (lmf, 'lmf'))
    }
    assert not first[(ce.stem, 0)]['resumed']

    # 2. CE seed 1 interrupted after epoch 1 of 2
    interrupted = work / ce.stem / 'seed-1'
    opts = LaunchOptions(cfg_options=['train_cfg.max_epochs=1'])
    subprocess.run(
        train_command(RunSpec(str(ce), 1, str(work)), opts), check=True,
        capture_output=True)
    assert run_state(str(interrupted)) == 'resume'
    assert not (interrupted / 'epoch_2.pth').exists()

    # 3. restart with seeds 0 and 1 and a broken config in the grid
    broken = tiny['root'] / 'resnet18-w8_scratch_1xb8-ce-2e_broken.py'
    broken.write_text("_base_ = './no_such_base.py'\n")
    before = {p: p.read_bytes() for p in work.glob('*/seed-0/metrics.json')}
    code = run_grid.main([
        str(ce), str(lmf), str(broken), '--seeds', '0', '1', '--work-root',
        str(work)
    ])
    out = capsys.readouterr().out
    assert code == 1, out
    lines = out.splitlines()
    assert f'[1/6] {ce.stem} seed=0 ... skipped (metrics.json exists)' \
        in lines
    assert f'[2/6] {lmf.stem} seed=0 ... skipped (metrics.json exists)' \
        in lines
    assert any(line.startswith(f'[3/6] {broken.stem} seed=0 ... FAILED')
               for line in lines), out
    assert any(
        line.startswith(f'[4/6] {ce.stem} seed=1 (resuming from '
                        'epoch_1.pth) ... done in') for line in lines), out
    assert any(line.startswith(f'[5/6] {lmf.stem} seed=1 ... done in')
               for line in lines), out
    assert '2 done now, 2 skipped (already done), 2 failed' in out
    assert f'  {broken.stem} seed=1: ' in out.split('Failed runs')[1]
    # finished runs were not touched
    assert {p: p.read_bytes() for p in before} == before

    # the interrupted run trained epoch 2 only, from epoch 1's checkpoint
    record = check_finished_run(interrupted, ce, 1, 'ce')
    assert record['resumed'] is True
    log = (interrupted / 'train.log').read_text()
    resumed_part = log.split('\n===== ')[-1]
    assert f'--resume {interrupted}/epoch_1.pth' in \
        resumed_part.splitlines()[0]
    assert 'resumed epoch: 1' in resumed_part
    assert 'Epoch(train) [2]' in resumed_part
    assert 'Epoch(train) [1]' not in resumed_part
    assert (interrupted / f'epoch_{MAX_EPOCHS}.pth').is_file()
    check_finished_run(work / lmf.stem / 'seed-1', lmf, 1, 'lmf')

    # 4. tables from these metrics.json files
    make_tables = load_tool('make_tables')
    reports = tiny['root'] / 'reports'
    assert make_tables.main([str(work), '--out-dir', str(reports)]) == 0
    markdown = capsys.readouterr().out
    assert markdown == (reports / 'results.md').read_text() + '\n'
    f1 = {
        stem: [
            read(work / stem / f'seed-{s}' / 'metrics.json')['metrics']
            ['imbalanced/macro_f1'] for s in (0, 1)
        ]
        for stem in (ce.stem, lmf.stem)
    }
    cells = []
    for stem in (ce.stem, lmf.stem):
        mean = sum(f1[stem]) / 2
        std = abs(f1[stem][0] - f1[stem][1]) / math.sqrt(2)
        cells.append(f'{mean:.2f} ± {std:.2f}')
    assert f'| tiny | resnet18-w8 | {cells[0]} | {cells[1]} |' in markdown
    assert '| Backbone | Loss | n | common | medium | rare |' in markdown
    rows = (reports / 'macro_f1.csv').read_text().splitlines()
    assert rows[0] == ('dataset,backbone,ce_mean,ce_std,ce_n,lmf_mean,'
                       'lmf_std,lmf_n')
    values = rows[1].split(',')
    assert values[:2] == ['tiny', 'resnet18-w8']
    assert float(values[2]) == pytest.approx(sum(f1[ce.stem]) / 2, abs=1e-4)
    assert values[4] == '2' and values[7] == '2'


def test_dry_run_prints_the_plan(tiny, tmp_path, capsys, load_tool):
    """States of runs on disk (done, resume, test-only, new) and the
    commands, for the pytorch launcher; nothing is run."""
    run_grid = load_tool('run_grid')
    ce, lmf = tiny['ce'], tiny['lmf']
    work = tmp_path / 'work'
    done = work / ce.stem / 'seed-0'
    done.mkdir(parents=True)
    (done / 'metrics.json').write_text('{}')
    resume = work / lmf.stem / 'seed-0'
    resume.mkdir(parents=True)
    (resume / 'epoch_3.pth').write_bytes(b'')
    tested = work / ce.stem / 'seed-1'
    tested.mkdir(parents=True)
    (tested / 'train_done.json').write_text('{}')
    code = run_grid.main([
        str(ce), str(lmf), '--seeds', '0', '1', '--work-root', str(work),
        '--dry-run', '--launcher', 'pytorch', '--gpus', '2', '--port',
        '29511', '--cfg-options', 'train_cfg.max_epochs=1'
    ])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '4 runs' in out and '1 done, 3 to run' in out
    lines = out.splitlines()
    head = [line for line in lines if line.startswith('[')]
    assert head == [
        f'[1/4] {ce.stem} seed=0 (tiny / resnet18-w8 / ce): done '
        '(metrics.json exists), skipped',
        f'[2/4] {lmf.stem} seed=0 (tiny / resnet18-w8 / lmf): unfinished: '
        'resume training, then test',
        f'[3/4] {ce.stem} seed=1 (tiny / resnet18-w8 / ce): training '
        'finished earlier: test only',
        f'[4/4] {lmf.stem} seed=1 (tiny / resnet18-w8 / lmf): train, then '
        'test',
    ]
    trains = [line for line in lines if line.startswith('    train: ')]
    tests = [line for line in lines if line.startswith('    test:  ')]
    assert len(trains) == 2 and len(tests) == 3
    assert '-m torch.distributed.run' in trains[0]
    assert '--nproc_per_node=2 --master_port=29511' in trains[0]
    assert trains[0].endswith(
        f'--work-dir {resume} --resume {resume}/epoch_3.pth --launcher '
        'pytorch --cfg-options train_cfg.max_epochs=1 randomness.seed=0')
    assert '--resume' not in trains[1]
    assert f'--out {tested}/predictions.pkl' in tests[1]
    assert not (work / lmf.stem / 'seed-1').exists()  # nothing created


def test_failed_training_is_reported_with_its_log(tiny, tmp_path, capsys):
    """A training command that exits non-zero: the grid reports it with
    the end of its output, goes on with the next run and returns 1."""
    fake = tmp_path / 'fake_train.py'
    fake.write_text('import sys\nprint("loading data")\n'
                    'print("RuntimeError: out of memory", file=sys.stderr)\n'
                    'sys.exit(3)\n')
    from lmfloss_mm.grid import build_grid, run_grid
    specs = build_grid([str(tiny['ce']), str(tiny['lmf'])], [0],
                       str(tmp_path / 'work'))
    opts = LaunchOptions(train_script=str(fake))
    assert run_grid(specs, opts) == 2
    out = capsys.readouterr().out
    assert f'[1/2] {tiny["ce"].stem} seed=0 ... FAILED after' in out
    assert 'training exited with code 3' in out
    assert '    | RuntimeError: out of memory' in out
    assert f'[2/2] {tiny["lmf"].stem} seed=0 ... FAILED' in out
    log = tmp_path / 'work' / tiny['ce'].stem / 'seed-0' / 'train.log'
    assert 'loading data' in log.read_text()
    assert not (log.parent / 'metrics.json').exists()
    assert not (log.parent / 'train_done.json').exists()


def test_usage_errors(tiny, tmp_path, capsys, load_tool):
    run_grid = load_tool('run_grid')
    work = ['--work-root', str(tmp_path)]
    assert run_grid.main(work) == 2  # no config
    assert run_grid.main([str(tmp_path / 'missing.py')] + work) == 2
    assert run_grid.main([str(tiny['ce']), '--cfg-options',
                          'randomness.seed=3'] + work) == 2
    assert run_grid.main([str(tiny['ce']), '--gpus', '2'] + work) == 2
    copy = tmp_path / 'other' / tiny['ce'].name
    copy.parent.mkdir()
    shutil.copy(tiny['ce'], copy)
    assert run_grid.main([str(tiny['ce']), str(copy)] + work) == 2
    err = capsys.readouterr().err
    assert 'no config given' in err
    assert 'no config matches' in err
    assert 'use --seeds' in err
    assert 'needs --launcher pytorch' in err
    assert 'same name' in err
