"""Run a benchmark as named parts, each within a time budget.

:class:`TimedParts` runs parts one after the other.  Each part gets the
smaller of its own budget and what is left of the total budget, a part
that raises is recorded as failed and the next one still runs, and a
callback (e.g. writing the report) is called after every part, so an
interrupted benchmark keeps what it finished.  :func:`run_command` runs a
tool as a child process with a hard deadline: the child gets its own
process group, which is terminated (then killed) when the deadline passes,
its loader workers included.
"""
import collections
import datetime
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from typing import Callable, Dict, List, Optional, Sequence

#: Seconds between SIGTERM and SIGKILL of a timed-out command.
KILL_GRACE_S = 5.0


def log(message: str, start: Optional[float] = None) -> None:
    """Print ``[HH:MM:SS +elapsed s] message`` and flush."""
    now = datetime.datetime.now().strftime('%H:%M:%S')
    elapsed = '' if start is None else f' +{time.monotonic() - start:.0f}s'
    print(f'[{now}{elapsed}] {message}', flush=True)


class CommandResult(dict):
    """``rc``, ``timed_out``, ``seconds``, ``tail`` (last output lines) of
    a finished command; a dict, so it goes into JSON as it is."""

    @property
    def ok(self) -> bool:
        return self['rc'] == 0 and not self['timed_out']


def run_command(cmd: Sequence[str],
                timeout_s: float,
                log_path: str,
                prefix: str = '',
                env: Optional[Dict[str, str]] = None,
                cwd: Optional[str] = None,
                tail_lines: int = 40,
                echo: bool = True) -> CommandResult:
    """Run ``cmd``, copy its output (stdout and stderr) to ``log_path`` and,
    with ``echo``, to this process's stdout (each line after ``prefix``),
    and stop it at ``timeout_s``.

    Returns:
        CommandResult: ``rc`` (None when it was stopped), ``timed_out``,
        ``seconds`` and ``tail``.
    """
    start = time.monotonic()
    tail = collections.deque(maxlen=tail_lines)
    with open(log_path, 'a', encoding='utf-8') as log_file:
        log_file.write(f'$ {" ".join(map(str, cmd))}\n')
        log_file.flush()
        process = subprocess.Popen(
            [str(c) for c in cmd], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=cwd, start_new_session=True, text=True, errors='replace',
            bufsize=1)

        def copy_output():
            for line in process.stdout:
                log_file.write(line)
                log_file.flush()
                tail.append(line.rstrip('\n'))
                if echo:
                    sys.stdout.write(prefix + line)
                    sys.stdout.flush()

        reader = threading.Thread(target=copy_output, daemon=True)
        reader.start()
        timed_out = False
        try:
            rc = process.wait(timeout=max(timeout_s, 0.0))
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop_group(process)
            rc = None
        reader.join(timeout=KILL_GRACE_S)
        if timed_out:
            log_file.write(f'[stopped after {timeout_s:.0f} s]\n')
    return CommandResult(rc=rc, timed_out=timed_out,
                         seconds=round(time.monotonic() - start, 1),
                         tail=list(tail))


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group of ``process``, SIGKILL it if it is still
    there after :data:`KILL_GRACE_S`."""
    for sig, wait_s in ((signal.SIGTERM, KILL_GRACE_S),
                        (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


class TimedParts:
    """Named parts in order, each within a time budget.

    Args:
        total_s (float): Budget of all parts together, from construction.
        on_update (Callable, optional): Called with :attr:`results` after
            every part (and after a skipped one). Defaults to None.
        clock (Callable): Monotonic time source. Defaults to
            ``time.monotonic``.
    """

    def __init__(self,
                 total_s: float,
                 on_update: Optional[Callable[[Dict[str, dict]], None]] = None,
                 clock: Callable[[], float] = time.monotonic):
        if total_s <= 0:
            raise ValueError(f'total_s must be > 0, got {total_s}')
        self.clock = clock
        self.start = clock()
        self.total_s = float(total_s)
        self.on_update = on_update
        #: name -> ``status`` (``ok`` / ``failed`` / ``timeout`` /
        #: ``skipped``), ``budget_s``, ``seconds``, ``error`` and what the
        #: part returned.
        self.results: Dict[str, dict] = {}

    def remaining(self) -> float:
        """Seconds left of the total budget."""
        return self.total_s - (self.clock() - self.start)

    def run(self,
            name: str,
            part: Callable[[float], Optional[dict]],
            budget_s: Optional[float] = None,
            reserve_s: float = 0.0,
            min_s: float = 1.0) -> dict:
        """Run ``part(budget)`` and record its outcome under ``name``.

        The part gets ``budget = min(budget_s, remaining() - reserve_s)``
        seconds (``reserve_s`` keeps time for the parts after it) and must
        stop within it; it returns a dict of results (which may hold
        ``status='timeout'`` or ``'failed'``).  With less than ``min_s``
        seconds it is skipped.  Exceptions are recorded, not raised
        (``KeyboardInterrupt`` still stops everything).

        Returns:
            dict: The record stored in :attr:`results`.
        """
        budget = self.remaining() - reserve_s
        if budget_s is not None:
            budget = min(budget, budget_s)
        record = dict(status='ok', budget_s=round(max(budget, 0.0), 1))
        if budget < min_s:
            record.update(status='skipped', seconds=0.0,
                          error=f'{max(budget, 0.0):.0f} s left, needs '
                          f'{min_s:.0f} s')
            log(f'{name}: skipped ({record["error"]})', self.start)
        else:
            log(f'{name}: start (budget {budget:.0f} s, '
                f'{self.remaining():.0f} s left in total)', self.start)
            begin = self.clock()
            try:
                record.update(part(budget) or {})
            except KeyboardInterrupt:
                raise
            except Exception as error:
                record.update(
                    status='failed', error=repr(error),
                    traceback=traceback.format_exc().splitlines()[-12:])
            record['seconds'] = round(self.clock() - begin, 1)
            log(f'{name}: {record["status"]} in {record["seconds"]:.0f} s'
                + (f' ({record["error"]})' if record.get('error') else ''),
                self.start)
        self.results[name] = record
        if self.on_update is not None:
            try:
                self.on_update(self.results)
            except Exception as error:  # a report error must not stop a run
                log(f'writing the report after {name} failed: {error!r}',
                    self.start)
        return record


def summary_line(output: List[str], words=('passed', 'failed', 'skipped',
                                           'error', 'deselected')) -> str:
    """The last line of ``output`` that names a pytest outcome count
    (``'11 passed, 739 deselected in 9.1s'``), without the ``=`` frame."""
    for line in reversed(output):
        text = line.strip().strip('=').strip()
        if any(f' {w}' in text for w in words) and any(c.isdigit()
                                                        for c in text):
            return text
    return ''
