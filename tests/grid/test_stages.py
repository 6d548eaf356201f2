"""Two-stage recipes in ``tools/run_grid.py`` (:mod:`lmfloss_mm.grid.stages`):

* the first stage of the repository's second-stage configs, read from the
  resolved config;
* a missing first stage is added and ordered before its second stage;
* with stand-in training / test scripts (fast): a second stage starts after
  its first stage with ``load_from`` = the first stage's best checkpoint,
  a failed first stage fails its second stage with a message naming it
  while an unrelated run finishes, a restart skips the finished runs, and
  ``--parallel 2`` waits for the first stage only;
* the dry run shows the ``load_from`` a second stage will use;
* end to end with MMPretrain's scripts: the tiny CE config, then a tiny cRT
  second stage from its best checkpoint, both in the tables.
"""
import json
import os.path as osp
from pathlib import Path

import pytest
import torch

from lmfloss_mm.grid import (LaunchOptions, build_grid, chain_stages,
                             first_stage_of, plan_slots, run_grid,
                             run_parallel)
from tests.conftest import REPO

from .tiny_grid import write_config, write_second_stage

BEST = 'best_imbalanced_macro_f1_epoch_1.pth'

#: A stand-in for train.py: fails for the ``fails`` first stage, takes 3 s
#: for the CE first stage, then leaves a best checkpoint and what it was
#: called with and when.
FAKE_TRAIN = '''\
import json, os, sys, time
start = time.time()
config = os.path.basename(sys.argv[1])
work_dir = sys.argv[sys.argv.index('--work-dir') + 1]
os.makedirs(work_dir, exist_ok=True)
if '-fails-2e_' in config:
    print('RuntimeError: the first stage broke', file=sys.stderr)
    sys.exit(1)
if '-ce-2e_' in config:
    time.sleep(3)
open(os.path.join(work_dir, 'best_imbalanced_macro_f1_epoch_1.pth'),
     'wb').close()
with open(os.path.join(work_dir, 'fake_train.json'), 'w') as f:
    json.dump(dict(argv=sys.argv[1:], start=start, end=time.time()), f)
'''

#: A stand-in for test.py: MMEngine's test log with one metric.
FAKE_TEST = '''\
import json, os, sys, time
work_dir = sys.argv[sys.argv.index('--work-dir') + 1]
stamp = time.strftime('%Y%m%d_%H%M%S')
os.makedirs(os.path.join(work_dir, stamp), exist_ok=True)
with open(os.path.join(work_dir, stamp, stamp + '.json'), 'w') as f:
    json.dump({'imbalanced/macro_f1': 50.0, 'time': 0.1}, f)
'''


@pytest.fixture
def chain(tiny, tmp_path):
    """CE with its cRT second stage, a first stage that fails with its
    second stage, and LMF; stand-in scripts."""
    data = tiny['root'] / 'data'
    ce = write_config(tmp_path, 'ce', data)
    fails = tmp_path / ce.name.replace('-ce-', '-fails-')
    fails.write_text(ce.read_text())
    scripts = tmp_path / 'scripts'
    scripts.mkdir()
    (scripts / 'train.py').write_text(FAKE_TRAIN)
    (scripts / 'test.py').write_text(FAKE_TEST)
    return dict(
        ce=ce, crt=write_second_stage(tmp_path, ce, data),
        fails=fails,
        fails_crt=write_second_stage(tmp_path, fails, data,
                                     name='fails-crt'),
        lmf=write_config(tmp_path, 'lmf', data),
        opts=LaunchOptions(train_script=str(scripts / 'train.py'),
                           test_script=str(scripts / 'test.py')),
        work=tmp_path / 'work')


def grid_of(chain, names, seeds=(0, )):
    configs, first_stages, added = chain_stages(
        [str(chain[name]) for name in names])
    return build_grid(configs, seeds, str(chain['work']), first_stages), \
        added


def fake_train(chain, name, seed=0):
    return json.loads((chain['work'] / chain[name].stem / f'seed-{seed}' /
                       'fake_train.json').read_text())


def record(chain, name, seed=0):
    return json.loads((chain['work'] / chain[name].stem / f'seed-{seed}' /
                       'metrics.json').read_text())


# ------------------------------------------------------------ the configs
@pytest.mark.parametrize('second, first', [
    ('ce-crt-10e', 'ce-100e'), ('ce-lws-10e', 'ce-100e'),
    ('ce-taunorm-0e', 'ce-100e'), ('ce-wb-maxnorm-10e', 'ce-wb-100e'),
    ('mixup-ce-mislas-10e', 'mixup-ce-100e')])
def test_first_stage_of_the_repository_configs(second, first, monkeypatch):
    monkeypatch.chdir(REPO)
    path = f'configs/ham10000/resnet50_in1k-pre_1xb32-{second}_ham10000.py'
    assert first_stage_of(path) == \
        f'configs/ham10000/resnet50_in1k-pre_1xb32-{first}_ham10000.py'
    assert first_stage_of(
        f'configs/ham10000/resnet50_in1k-pre_1xb32-{first}_ham10000.py') \
        is None


def test_first_stage_found_from_another_folder(chain, monkeypatch):
    # first_stage is a path from the config's root, found from anywhere
    monkeypatch.chdir(chain['work'].parent.parent)
    assert first_stage_of(str(chain['crt'])) == str(chain['ce'])


def test_missing_first_stages_are_added_before_their_second_stage(chain):
    crt, ce, lmf = (str(chain[n]) for n in ('crt', 'ce', 'lmf'))
    configs, first_stages, added = chain_stages([crt, lmf])
    assert configs == [ce, crt, lmf]
    assert first_stages == {crt: ce}
    assert added == [(ce, crt)]
    # listed after its second stage: moved before it, not added twice
    configs, first_stages, added = chain_stages([lmf, crt, ce])
    assert configs == [lmf, ce, crt] and added == []
    # seed-major: each seed's first stage before its second stage
    specs = build_grid(configs, [0, 1], str(chain['work']), first_stages)
    assert [(Path(s.config).name, s.seed) for s in specs] == [
        (Path(c).name, seed) for seed in (0, 1) for c in configs]
    assert specs[2].first_stage_spec == specs[1]
    assert specs[1].first_stage is None


def test_bad_second_stage_configs_are_refused(chain, tmp_path):
    missing = tmp_path / 'resnet18-w8_scratch_1xb8-x-crt-1e_tiny.py'
    missing.write_text(chain['crt'].read_text().replace(
        chain['ce'].name, 'no_such_stage1.py'))
    with pytest.raises(FileNotFoundError, match="'no_such_stage1.py'"):
        chain_stages([str(missing)])
    loop = tmp_path / 'resnet18-w8_scratch_1xb8-loop-1e_tiny.py'
    loop.write_text(chain['crt'].read_text().replace(chain['ce'].name,
                                                     loop.name))
    with pytest.raises(ValueError, match='cycle'):
        chain_stages([str(loop)])
    # an unreadable config stays in the grid; its run reports the error
    broken = tmp_path / 'resnet18-w8_scratch_1xb8-ce-2e_broken.py'
    broken.write_text("_base_ = './no_such_base.py'\n")
    assert chain_stages([str(broken)]) == ([str(broken)], {}, [])


# ------------------------------------------ running, with stand-in scripts
def test_second_stage_after_first_from_its_best_checkpoint(chain, capsys):
    specs, added = grid_of(chain, ['crt', 'fails_crt', 'lmf'])
    assert [Path(s.config) for s in specs] == [
        chain[n] for n in ('ce', 'crt', 'fails', 'fails_crt', 'lmf')]
    assert run_grid(specs, chain['opts']) == 2
    out = capsys.readouterr().out
    lines = out.splitlines()
    ce_dir = chain['work'] / chain['ce'].stem / 'seed-0'
    # the order, and load_from = the first stage's best checkpoint
    first, second = fake_train(chain, 'ce'), fake_train(chain, 'crt')
    assert first['end'] <= second['start']
    assert f'load_from={ce_dir / BEST}' in second['argv']
    assert not any(a.startswith('load_from=') for a in first['argv'])
    stored = record(chain, 'crt')
    assert stored['load_from'] == str(ce_dir / BEST)
    assert stored['first_stage'] == str(chain['ce'])
    assert stored['loss'] == 'ce-crt' and record(chain, 'ce')['loss'] == 'ce'
    # a failed first stage: its second stage fails naming it, LMF runs on
    fails_dir = chain['work'] / chain['fails'].stem / 'seed-0'
    assert any(line.startswith(f'[3/5] {chain["fails"].stem} seed=0 ... '
                               'FAILED') for line in lines), out
    assert f'[4/5] {chain["fails_crt"].stem} seed=0 ... FAILED after 0s: ' \
        f'not started: its first stage {chain["fails"].stem} seed=0 did ' \
        f'not finish (no metrics.json in {fails_dir})' in out
    assert not (chain['work'] / chain['fails_crt'].stem / 'seed-0' /
                'fake_train.json').exists()
    assert any(line.startswith(f'[5/5] {chain["lmf"].stem} seed=0 ... done')
               for line in lines), out
    assert '3 done now, 0 skipped (already done), 2 failed' in out

    # a restart skips the finished runs (the second stage too)
    before = (chain['work'] / chain['crt'].stem / 'seed-0' /
              'fake_train.json').read_text()
    assert run_grid(specs, chain['opts']) == 2
    out = capsys.readouterr().out
    assert f'[2/5] {chain["crt"].stem} seed=0 ... skipped' in out
    assert '0 done now, 3 skipped (already done), 2 failed' in out
    assert (chain['work'] / chain['crt'].stem / 'seed-0' /
            'fake_train.json').read_text() == before


def test_first_stage_without_best_checkpoint(chain, capsys):
    specs, _ = grid_of(chain, ['crt'])
    ce_dir = chain['work'] / chain['ce'].stem / 'seed-0'
    ce_dir.mkdir(parents=True)
    (ce_dir / 'metrics.json').write_text('{}')  # done, checkpoint deleted
    assert run_grid(specs, chain['opts']) == 1
    out = capsys.readouterr().out
    assert f'not started: its first stage {chain["ce"].stem} seed=0 left ' \
        f'no best checkpoint ({ce_dir}/best_imbalanced_macro_f1_*.pth)' in out


def test_dry_run_shows_load_from(chain, capsys, load_tool, monkeypatch):
    run_grid_tool = load_tool('run_grid')
    monkeypatch.chdir(chain['work'].parent)
    argv = [chain['crt'].name, '--seeds', '0', '--work-root', 'work',
            '--dry-run']
    assert run_grid_tool.main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == (f'Added {chain["ce"].name}: the first stage of '
                        f'{chain["crt"].name}')
    crt_at = next(i for i, line in enumerate(lines)
                  if line.startswith(f'[2/2] {chain["crt"].stem}'))
    assert lines[crt_at + 1] == (
        f'    second stage: starts after {chain["ce"].stem} seed=0 from its '
        'best checkpoint')
    ce_dir = osp.join('work', chain['ce'].stem, 'seed-0')
    assert lines[crt_at + 2].startswith('    train: ')
    assert lines[crt_at + 2].endswith(
        f"--cfg-options 'load_from={ce_dir}/best_imbalanced_macro_f1_*.pth' "
        'randomness.seed=0')
    # once the first stage is done: its checkpoint
    Path(ce_dir).mkdir(parents=True)
    (Path(ce_dir) / 'metrics.json').write_text('{}')
    (Path(ce_dir) / BEST).write_bytes(b'')
    assert run_grid_tool.main(argv) == 0
    out = capsys.readouterr().out
    assert f'--cfg-options load_from={ce_dir}/{BEST} randomness.seed=0' in out
    # a load_from of the user's would clash with the chaining
    assert run_grid_tool.main(argv + ['--cfg-options', 'load_from=x.pth']) \
        == 2
    assert 'load_from is set by the grid' in capsys.readouterr().err


@pytest.mark.slow
def test_parallel_second_stage_waits_for_its_first_stage_only(chain,
                                                              capsys):
    specs, _ = grid_of(chain, ['crt', 'fails_crt', 'lmf'])
    opts = chain['opts']
    # no GPU, the threads left as they are: slots without environment
    slots = plan_slots(2, opts, environ={'CUDA_VISIBLE_DEVICES': '',
                                         'OMP_NUM_THREADS': '1'})
    assert run_parallel(specs, opts, slots, poll_seconds=0.1) == 2
    out = capsys.readouterr().out
    events = [line.split(' | ')[0] for line in out.splitlines()
              if line.startswith('[')]
    stem = {name: chain[name].stem for name in chain
            if name not in ('opts', 'work')}
    # CE and the failing first stage start; cRT waits for CE
    assert events[:2] == [f'[1/5] {stem["ce"]} seed=0 started in slot 1',
                          f'[3/5] {stem["fails"]} seed=0 started in slot 2']
    assert events[2].startswith(f'[3/5] {stem["fails"]} seed=0 FAILED')
    # its second stage fails at once, without a worker; LMF takes the slot
    # while CE still trains (a dependency, not a barrier)
    assert events[3] == (f'[4/5] {stem["fails_crt"]} seed=0 FAILED: not '
                         f'started: its first stage {stem["fails"]} seed=0 '
                         'failed')
    assert events[4] == f'[5/5] {stem["lmf"]} seed=0 started in slot 2'
    assert f'[5/5] {stem["lmf"]} seed=0 started in slot 2 | 0 done, 2 ' \
        'running, 2 failed, 1 waiting' in out
    # cRT started once CE had ended, in the slot CE freed
    assert events.index(f'[2/5] {stem["crt"]} seed=0 started in slot 1') > \
        events.index(next(e for e in events
                          if e.startswith(f'[1/5] {stem["ce"]} seed=0 done')))
    first, second = fake_train(chain, 'ce'), fake_train(chain, 'crt')
    assert first['end'] <= second['start']
    ce_dir = chain['work'] / stem['ce'] / 'seed-0'
    assert f'load_from={ce_dir / BEST}' in second['argv']
    assert record(chain, 'crt')['load_from'] == str(ce_dir / BEST)
    assert not (chain['work'] / stem['fails_crt'] / 'seed-0').exists()
    assert '3 done now, 0 skipped (already done), 2 failed' in out


# ------------------------------------------------ end to end, real scripts
@pytest.mark.slow
def test_crt_after_ce_end_to_end_and_in_the_tables(tiny, tmp_path, capsys,
                                                  monkeypatch, load_tool):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    data = tiny['root'] / 'data'
    ce = write_config(tmp_path, 'ce', data)
    crt = write_second_stage(tmp_path, ce, data)
    work = tmp_path / 'work'
    code = load_tool('run_grid').main(
        [str(crt), '--seeds', '0', '--work-root', str(work)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[0] == f'Added {ce}: the first stage of {crt}'
    assert f'[1/2] {ce.stem} seed=0 ... done in' in out
    assert f'[2/2] {crt.stem} seed=0 ... done in' in out

    first = json.loads((work / ce.stem / 'seed-0' / 'metrics.json')
                       .read_text())
    second = json.loads((work / crt.stem / 'seed-0' / 'metrics.json')
                        .read_text())
    best = first['checkpoint']
    assert Path(best).parent == work / ce.stem / 'seed-0'
    assert Path(best).name.startswith('best_imbalanced_macro_f1_epoch_')
    assert second['load_from'] == best
    log = (work / crt.stem / 'seed-0' / 'train.log').read_text()
    assert f'load_from={best}' in log.split('\n===== ')[-1].splitlines()[0]
    # MMEngine loaded it, SecondStageHook accepted it and re-initialised
    # the head
    assert f'Load checkpoint from {best}' in log
    assert 'the head (LinearClsHead) is re-initialised' in log
    # provenance of the grid's runs: this process's libraries and threads
    for stored in (first, second):
        assert stored['provenance']['packages']['torch'] == torch.__version__
        assert stored['provenance']['threads']['intra_op'] == 1

    # both stages in the tables, in columns of their own
    reports = tmp_path / 'reports'
    assert load_tool('make_tables').main(
        [str(work), '--out-dir', str(reports), '--quiet']) == 0
    rows = (reports / 'runs.csv').read_text().splitlines()
    header = rows[0].split(',')
    losses = sorted(row.split(',')[header.index('loss')] for row in rows[1:])
    assert losses == ['ce', 'ce-crt']
    f1 = {r['loss']: r['metrics']['imbalanced/macro_f1']
          for r in (first, second)}
    csv_rows = (reports / 'macro_f1.csv').read_text().splitlines()
    columns = csv_rows[0].split(',')
    values = csv_rows[1].split(',')
    for loss in ('ce', 'ce-crt'):
        assert float(values[columns.index(f'{loss}_mean')]) == \
            pytest.approx(f1[loss], abs=1e-4)
    assert 'Made with lmfloss_mm ' in (reports / 'results.md').read_text()
