"""``tools/run_grid.py --parallel K`` (:mod:`lmfloss_mm.grid.scheduler`).

* slots: GPUs, master ports and threads shared out, bad input refused;
* the ETA of a pool of slots, against schedules worked out by hand;
* dry runs of the multi-GPU and Slurm command lines with each run's
  environment;
* two runs at once really overlap, each sees its own slot, and a SIGTERM
  to the grid stops both (whole process groups) and leaves them
  resumable (a stand-in training script that sleeps);
* the tiny CE / LMF grid with K = 2 and a broken config between them
  gives the metrics of the sequential runs, and the broken run does not
  stop the others.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmfloss_mm.grid import LaunchOptions, Slot, parse_devices, plan_slots
from lmfloss_mm.grid.layout import run_state
from lmfloss_mm.grid.scheduler import parallel_eta

from .test_run_grid import check_finished_run

#: Training and test scripts are never run by the slot tests.
SCRIPTS = dict(train_script='train.py', test_script='test.py')


def options(**kwargs):
    return LaunchOptions(**SCRIPTS, **kwargs)


# ------------------------------------------------------------------ slots
def test_slots_share_out_devices_ports_and_threads():
    slots = plan_slots(2, options(launcher='pytorch', gpus=2, port=29600),
                       devices=['0', '1', '2', '3', '4'], environ={},
                       cpu_count=8)
    assert slots == [Slot(0, ('0', '1'), 29600, 2),
                     Slot(1, ('2', '3'), 29601, 2)]
    assert slots[1].env == {'CUDA_VISIBLE_DEVICES': '2,3',
                            'MASTER_PORT': '29601', 'OMP_NUM_THREADS': '2'}
    # torchrun's --master_port follows the slot
    assert slots[1].options(options(launcher='pytorch', gpus=2)).port == \
        29601

    # the visible GPUs (CUDA_VISIBLE_DEVICES entries, UUIDs kept); a user's
    # OMP_NUM_THREADS is left alone; no launcher, no port
    environ = {'CUDA_VISIBLE_DEVICES': 'GPU-a, GPU-b,GPU-c',
               'OMP_NUM_THREADS': '4'}
    slots = plan_slots(3, options(), environ=environ, cpu_count=64)
    assert [s.env for s in slots] == [
        {'CUDA_VISIBLE_DEVICES': 'GPU-a'}, {'CUDA_VISIBLE_DEVICES': 'GPU-b'},
        {'CUDA_VISIBLE_DEVICES': 'GPU-c'}]
    assert slots[0].options(options()).port == options().port

    # no GPU: CPU runs, the cores shared out (at least one thread each)
    slots = plan_slots(2, options(), environ={'CUDA_VISIBLE_DEVICES': ''},
                       cpu_count=7)
    assert [s.env for s in slots] == [{'OMP_NUM_THREADS': '3'}] * 2
    slots = plan_slots(4, options(), environ={'CUDA_VISIBLE_DEVICES': ''},
                       cpu_count=2)
    assert [s.threads for s in slots] == [1] * 4

    # one run keeps what it inherits, unless devices are given
    assert plan_slots(1, options(), environ={}) == [Slot(0)]
    assert Slot(0).describe() == 'environment unchanged'
    assert plan_slots(1, options(), devices=['3'], environ={}) == \
        [Slot(0, ('3', ))]

    # Slurm assigns the GPUs: only a master port per run
    slots = plan_slots(3, options(launcher='slurm', port=29700), environ={})
    assert [s.env for s in slots] == [{'MASTER_PORT': str(p)}
                                      for p in (29700, 29701, 29702)]


def test_slot_errors():
    with pytest.raises(ValueError, match=r'needs 4 GPUs but --devices '
                       r'gives 3 \(0,1,2\).*--devices'):
        plan_slots(2, options(launcher='pytorch', gpus=2),
                   devices=['0', '1', '2'], environ={})
    with pytest.raises(ValueError, match=r'needs 3 GPUs but this process '
                       r'sees 2 \(0,1\)'):
        plan_slots(3, options(), environ={'CUDA_VISIBLE_DEVICES': '0,1'})
    with pytest.raises(ValueError, match='Slurm assigns each run its GPUs'):
        plan_slots(2, options(launcher='slurm'), devices=['0', '1'])
    with pytest.raises(ValueError, match='--parallel must be >= 1'):
        plan_slots(0, options())
    assert parse_devices(' 0, 1,2') == ['0', '1', '2']
    with pytest.raises(ValueError, match='empty entry'):
        parse_devices('0,,1')
    with pytest.raises(ValueError, match='lists 1 more than once'):
        parse_devices('0,1,1')


def test_parallel_eta():
    # 2 slots, mean 10 s: runs at 4 s and 12 s (over the mean: ends now);
    # the waiting runs go to the slots free at 0 s, 6 s, then 10 s
    assert parallel_eta(10, [4, 12], 3, 2) == 20
    # idle slots take waiting runs at once: 5 runs on 3 slots = 2 rounds
    assert parallel_eta(10, [], 5, 3) == 20
    # nothing waiting: the longest remaining run
    assert parallel_eta(10, [1, 7], 0, 4) == 9
    assert parallel_eta(10, [], 0, 2) == 0


# --------------------------------------------------------------- dry runs
def run_blocks(out):
    """``{run line: [its indented lines]}`` of a printed plan."""
    blocks, current = {}, None
    for line in out.splitlines():
        if line.startswith('['):
            current = blocks.setdefault(line, [])
        elif line.startswith('    ') and current is not None:
            current.append(line.strip())
    return list(blocks.items())


def test_dry_run_multi_gpu_and_slurm(tiny, tmp_path, capsys, monkeypatch,
                                     load_tool):
    run_grid = load_tool('run_grid')
    ce, lmf = tiny['ce'], tiny['lmf']
    work = tmp_path / 'work'
    done = work / ce.stem / 'seed-0'
    done.mkdir(parents=True)
    (done / 'metrics.json').write_text('{}')
    grid = [str(ce), str(lmf), '--seeds', '0', '1', '--work-root',
            str(work), '--dry-run']

    # 2 runs at once, 2 GPUs each, on this machine
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    assert run_grid.main(grid + [
        '--parallel', '2', '--launcher', 'pytorch', '--gpus', '2',
        '--devices', '0,1,2,3', '--port', '29600'
    ]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        '2 run(s) at a time, each in the first free slot:\n'
        '  slot 1: CUDA_VISIBLE_DEVICES=0,1 MASTER_PORT=29600\n'
        '  slot 2: CUDA_VISIBLE_DEVICES=2,3 MASTER_PORT=29601\n')
    blocks = run_blocks(out)
    assert len(blocks) == 4 and blocks[0][1] == []  # done: no commands
    # the runs to do take the slots in turn: 1, 2, 1
    for (head, lines), slot in zip(blocks[1:], (1, 2, 1)):
        devices, port = ('0,1', 29600) if slot == 1 else ('2,3', 29601)
        assert lines[0] == (f'slot {slot}: CUDA_VISIBLE_DEVICES={devices} '
                            f'MASTER_PORT={port}'), head
        seed = head.split('seed=')[1].split()[0]
        assert lines[1].startswith('train: ') and \
            lines[2].startswith('test:  ')
        for command in lines[1:]:
            assert ' -m torch.distributed.run ' in command
            assert f'--nproc_per_node=2 --master_port={port} ' in command
            assert command.endswith('--launcher pytorch --cfg-options '
                                    f'randomness.seed={seed}')

    # Slurm: every run its own srun with its own MASTER_PORT
    monkeypatch.delenv('PORT', raising=False)  # the default first port
    assert run_grid.main(grid + [
        '--parallel', '3', '--launcher', 'slurm', '--partition', 'gpu',
        '--srun-args', '--exact --mem=40G'
    ]) == 0
    out = capsys.readouterr().out
    assert 'Slurm assigns each run its GPUs (srun --gres).' in out
    blocks = run_blocks(out)
    for (head, lines), port in zip(blocks[1:], (29500, 29501, 29502)):
        seed = head.split('seed=')[1].split()[0]
        stem = head.split()[1]
        assert lines[0].endswith(f': MASTER_PORT={port}')
        assert lines[1].startswith(
            f'train: srun -p gpu --job-name={stem}-seed{seed}-train '
            '--gres=gpu:1 --ntasks=1 --ntasks-per-node=1 --cpus-per-task=5 '
            '--kill-on-bad-exit=1 --exact --mem=40G ')
        assert lines[1].endswith(
            f'--launcher slurm --cfg-options randomness.seed={seed}')
        assert lines[2].startswith(f'test:  srun -p gpu --job-name={stem}'
                                   f'-seed{seed}-test ')

    # a single run pinned to a GPU
    assert run_grid.main(grid + ['--devices', '3']) == 0
    out = capsys.readouterr().out
    assert out.startswith('1 run(s) at a time')
    assert all(lines[0] == 'slot 1: CUDA_VISIBLE_DEVICES=3'
               for _, lines in run_blocks(out)[1:])
    assert not work.joinpath(lmf.stem).exists()  # nothing ran


def test_parallel_usage_errors(tiny, tmp_path, capsys, load_tool):
    run_grid = load_tool('run_grid')
    grid = [str(tiny['ce']), '--work-root', str(tmp_path)]
    assert run_grid.main(grid + ['--parallel', '2', '--verbose']) == 2
    assert run_grid.main(grid + ['-j', '2', '--launcher', 'slurm',
                                 '--devices', '0,1']) == 2
    assert run_grid.main(grid + ['--jobs', '3', '--devices', '0,1']) == 2
    assert run_grid.main(grid + ['--parallel', '0']) == 2
    assert run_grid.main(grid + ['--devices', '0,0']) == 2
    err = capsys.readouterr().err
    assert '--verbose needs --parallel 1' in err
    assert 'Slurm assigns each run its GPUs' in err
    assert 'needs 3 GPUs but --devices gives 2' in err
    assert '--parallel must be >= 1' in err
    assert 'lists 0 more than once' in err
    assert not list(tmp_path.iterdir())


# ------------------------------------------------ workers, for real (slow)
#: A stand-in for train.py: marks a checkpoint (so that the run can be
#: resumed), records its process id, start time and environment, then
#: sleeps until it is stopped.
FAKE_TRAIN = '''\
import json, os, sys, time
work_dir = sys.argv[sys.argv.index('--work-dir') + 1]
open(os.path.join(work_dir, 'epoch_1.pth'), 'wb').close()
print('training', flush=True)  # before fake.json: the test waits for that
keys = ('CUDA_VISIBLE_DEVICES', 'MASTER_PORT', 'OMP_NUM_THREADS')
info = dict(pid=os.getpid(), start=time.time(),
            env={key: os.environ.get(key) for key in keys})
with open(os.path.join(work_dir, 'fake.json.tmp'), 'w') as f:
    json.dump(info, f)
os.replace(os.path.join(work_dir, 'fake.json.tmp'),
           os.path.join(work_dir, 'fake.json'))
time.sleep(600)
'''

#: The grid of the stand-in, 2 at a time on "GPUs" 5 and 7, in a process of
#: its own (the test sends it SIGTERM).
DRIVER = '''\
import sys
from lmfloss_mm.grid import (LaunchOptions, build_grid, plan_slots,
                             run_parallel)
configs, seeds, work, fake = sys.argv[1:3], [0, 1], sys.argv[3], sys.argv[4]
opts = LaunchOptions(train_script=fake)
try:
    run_parallel(build_grid(configs, seeds, work), opts,
                 plan_slots(2, opts, devices=['5', '7']), poll_seconds=0.2,
                 stop_grace=60)
except KeyboardInterrupt:
    print('grid stopped')
    sys.exit(130)
'''


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return False
    return stat.rsplit(')', 1)[1].split()[0] != 'Z'


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='reads /proc')
def test_runs_overlap_in_their_slots_and_sigterm_stops_them(tiny, tmp_path):
    fake = tmp_path / 'fake_train.py'
    fake.write_text(FAKE_TRAIN)
    work = tmp_path / 'work'
    ce, lmf = tiny['ce'], tiny['lmf']
    env = dict(os.environ, OMP_NUM_THREADS='1')  # a user's: inherited
    grid = subprocess.Popen(
        [sys.executable, '-c', DRIVER, str(ce), str(lmf), str(work),
         str(fake)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env)
    records = [work / cfg.stem / 'seed-0' / 'fake.json' for cfg in (ce, lmf)]
    deadline = time.time() + 240
    while not all(r.is_file() for r in records):
        assert grid.poll() is None, grid.stdout.read()
        assert time.time() < deadline, 'the two runs did not start'
        time.sleep(0.2)
    first, second = (json.loads(r.read_text()) for r in records)
    # both trainings run at the same time, each with its slot's GPU
    assert alive(first['pid']) and alive(second['pid'])
    assert first['env'] == {'CUDA_VISIBLE_DEVICES': '5', 'MASTER_PORT': None,
                            'OMP_NUM_THREADS': '1'}
    assert second['env']['CUDA_VISIBLE_DEVICES'] == '7'

    grid.send_signal(signal.SIGTERM)
    out, _ = grid.communicate(timeout=120)
    assert grid.returncode == 130, out
    deadline = time.time() + 10  # the killed processes are reaped
    while (alive(first['pid']) or alive(second['pid'])) and \
            time.time() < deadline:
        time.sleep(0.1)
    assert not alive(first['pid']) and not alive(second['pid'])
    lines = out.splitlines()
    assert f'[1/4] {ce.stem} seed=0 started in slot 1 (CUDA_VISIBLE_DEVICES' \
        '=5) | 0 done, 1 running, 0 failed, 3 waiting' \
        in lines, out
    assert f'[2/4] {lmf.stem} seed=0 started in slot 2 (CUDA_VISIBLE_DEVICES' \
        '=7) | 0 done, 2 running, 0 failed, 2 waiting' \
        in lines, out
    for cfg in (ce, lmf):
        assert f'[{1 if cfg is ce else 2}/4] {cfg.stem} seed=0 interrupted; ' \
            'run the same command again to continue from here' in lines
        run_dir = work / cfg.stem / 'seed-0'
        # resumable: the checkpoint is kept, nothing claims to be finished
        assert run_state(str(run_dir)) == 'resume'
        assert not (run_dir / 'train_done.json').exists()
        assert 'training' in (run_dir / 'train.log').read_text()
        assert (run_dir / 'grid.log').is_file()
        # the seed-1 runs never started
        assert not (work / cfg.stem / 'seed-1').exists()
    assert lines[-1] == 'grid stopped'


@pytest.mark.slow
def test_two_at_once_match_sequential_runs_and_survive_a_failure(
        tiny, sequential_seed0, tmp_path, capsys, monkeypatch, load_tool):
    """CE, a broken config, LMF with K = 2: the broken run fails in slot 2
    while CE trains in slot 1, LMF takes slot 2, and both give the metrics
    of the sequential runs."""
    assert sequential_seed0[0] == 0, sequential_seed0[1]
    monkeypatch.setenv('OMP_NUM_THREADS', '1')  # as the sequential runs
    run_grid = load_tool('run_grid')
    ce, lmf = tiny['ce'], tiny['lmf']
    broken = tmp_path / 'resnet18-w8_scratch_1xb8-ce-2e_broken.py'
    broken.write_text("_base_ = './no_such_base.py'\n")
    work = tmp_path / 'parallel'
    code = run_grid.main([
        str(ce), str(broken), str(lmf), '--seeds', '0', '--work-root',
        str(work), '--parallel', '2'
    ])
    out = capsys.readouterr().out
    assert code == 1, out
    lines = [line for line in out.splitlines() if line.startswith('[')]
    events = [line.split(' | ')[0] for line in lines]
    assert len(events) == 6, out
    assert events[:2] == [f'[1/3] {ce.stem} seed=0 started in slot 1',
                          f'[2/3] {broken.stem} seed=0 started in slot 2']
    assert events[2].startswith(
        f'[2/3] {broken.stem} seed=0 FAILED after ')
    assert 'no_such_base.py' in events[2]
    # LMF takes the freed slot while CE still trains
    assert lines[3] == (f'[3/3] {lmf.stem} seed=0 started in slot 2 | '
                        '0 done, 2 running, 1 failed, 0 waiting')
    assert sorted(event.split(' done in ')[0] for event in events[4:]) == [
        f'[1/3] {ce.stem} seed=0', f'[3/3] {lmf.stem} seed=0']
    assert lines[-1].endswith('| 2 done, 0 running, 1 failed, 0 waiting')
    assert '2 done now, 0 skipped (already done), 1 failed' in out
    assert f'\n  {broken.stem} seed=0: FileNotFoundError: ' in \
        out.split('Failed runs')[1]
    # the worker's traceback is in the broken run's folder
    assert 'no_such_base.py' in (
        work / broken.stem / 'seed-0' / 'grid.log').read_text()

    for cfg, loss in ((ce, 'ce'), (lmf, 'lmf')):
        record = check_finished_run(work / cfg.stem / 'seed-0', cfg, 0, loss)
        sequential = json.loads(
            (tiny['work'] / cfg.stem / 'seed-0' / 'metrics.json').read_text())
        assert record['metrics'] == sequential['metrics'], loss
        assert Path(record['checkpoint']).name == \
            Path(sequential['checkpoint']).name
