"""Progress of a sequence of runs, with estimated times to finish.

:class:`RunProgress` prints one line per finished run with the overall
ETA (the mean duration of the runs finished so far times the runs left);
its :meth:`RunProgress.epoch_hook` adds, for in-process training, a line
after every training epoch with the ETA of the current run and the
overall ETA.
"""
import sys
import time
from typing import List, Optional, TextIO

from mmengine.hooks import Hook

__all__ = ['format_duration', 'format_eta', 'RunProgress']


def format_duration(seconds: float) -> str:
    """``42s``, ``1m20s``, ``2h05m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds}s'
    if seconds < 3600:
        return f'{seconds // 60}m{seconds % 60:02d}s'
    return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'


def format_eta(seconds: float) -> str:
    """Coarser than :func:`format_duration`: ``42s``, ``13m``, ``2h05m``."""
    if 60 <= round(seconds) < 3600:
        return f'{int(round(seconds / 60))}m'
    return format_duration(seconds)


class _EpochProgressHook(Hook):
    """Prints the ETA of the current run and of all runs after each
    training epoch (added to an in-process Runner by
    :meth:`RunProgress.epoch_hook`)."""

    priority = 'VERY_LOW'

    def __init__(self, progress: 'RunProgress'):
        self.progress = progress

    def before_train(self, runner) -> None:
        self._start = time.time()

    def after_train_epoch(self, runner) -> None:
        # the loop counts the epoch after this hook
        done, total = runner.epoch + 1, runner.max_epochs
        elapsed = time.time() - self._start
        run_left = elapsed / max(1, done) * (total - done)
        expected = elapsed + run_left
        self.progress.print(
            f'{self.progress.tag} epoch {done}/{total}, run ETA '
            f'{format_eta(run_left)}, all runs ETA '
            f'{format_eta(run_left + self.progress.left_after(expected))}')


class RunProgress:
    """Progress lines of ``total`` runs, some of which may be skipped.

    Args:
        total (int): Runs in the sequence, skipped ones included.
        to_run (int, optional): Runs that will really run (for the ETA).
            Defaults to ``total``.
        out (TextIO, optional): Where to print. Defaults to stdout.
    """

    def __init__(self, total: int, to_run: Optional[int] = None,
                 out: Optional[TextIO] = None):
        self.total = total
        self.to_run = total if to_run is None else to_run
        self.out = out
        self.index = 0
        self.tag = ''
        self.durations: List[float] = []
        self._start = None

    def print(self, text: str, end: str = '\n') -> None:
        print(text, end=end, file=self.out or sys.stdout, flush=True)

    def start(self, name: str) -> str:
        """Begin run ``name``; returns its ``[i/total] name`` tag."""
        self.index += 1
        self.tag = f'[{self.index}/{self.total}] {name}'
        self._start = time.time()
        return self.tag

    def left_after(self, current: float) -> float:
        """Seconds of the runs after the current one, whose expected
        duration is ``current`` (used while no run has finished)."""
        done = len(self.durations)
        mean = (sum(self.durations) + current) / (done + 1)
        return max(0, self.to_run - done - 1) * mean

    def finish(self) -> str:
        """End the current run; returns ``'done in X, ETA Y'`` (no ETA
        after the last run)."""
        seconds = time.time() - self._start
        self.durations.append(seconds)
        left = self.to_run - len(self.durations)
        mean = sum(self.durations) / len(self.durations)
        eta = f', ETA {format_eta(left * mean)}' if left > 0 else ''
        return f'done in {format_duration(seconds)}{eta}'

    def failed(self) -> str:
        """End the current run as failed; returns ``'FAILED after X'``."""
        self.to_run -= 1
        return f'FAILED after {format_duration(time.time() - self._start)}'

    def epoch_hook(self) -> Hook:
        """A hook for the current run's Runner that prints the run's and
        the overall ETA after every training epoch."""
        return _EpochProgressHook(self)
