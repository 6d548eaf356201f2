"""lmfloss_mm.runner.progress: durations, the overall ETA after each run
and the per-epoch ETA of the current run, on a fake clock."""
import io
from types import SimpleNamespace

import pytest

from lmfloss_mm.runner import progress as progress_module
from lmfloss_mm.runner.progress import (RunProgress, format_duration,
                                        format_eta)


def test_formats():
    assert [format_duration(s) for s in (42, 80, 7500)] == [
        '42s', '1m20s', '2h05m']
    assert [format_eta(s) for s in (42, 59.6, 780, 7500)] == [
        '42s', '1m', '13m', '2h05m']


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(progress_module.time, 'time', lambda: now[0])
    return now


def test_eta_after_each_run_counts_only_runs_left_to_do(clock):
    out = io.StringIO()
    progress = RunProgress(total=4, to_run=3, out=out)
    assert progress.start('a') == '[1/4] a'  # one of 4, stored: not timed
    assert progress.start('b') == '[2/4] b'
    clock[0] += 100
    assert progress.finish() == 'done in 1m40s, ETA 3m'  # 2 left x 100 s
    progress.start('c')
    clock[0] += 200
    assert progress.finish() == 'done in 3m20s, ETA 2m'  # 1 left x 150 s
    progress.start('d')
    clock[0] += 30
    assert progress.failed() == 'FAILED after 30s'


def test_epoch_hook_prints_run_and_overall_eta(clock):
    out = io.StringIO()
    progress = RunProgress(total=3, out=out)
    progress.start('x')
    hook = progress.epoch_hook()
    runner = SimpleNamespace(epoch=0, max_epochs=4)
    hook.before_train(runner)
    clock[0] += 40  # the first of 4 epochs took 40 s: the run takes 160 s
    hook.after_train_epoch(runner)
    # run: 120 s left; all: 120 s + two more runs of 160 s = 440 s
    assert out.getvalue() == ('[1/3] x epoch 1/4, run ETA 2m, all runs ETA '
                              '7m\n')
