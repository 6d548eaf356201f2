"""One run of a parallel grid, in a process of its own.

``python -m lmfloss_mm.grid.worker JOB.json`` brings one run to
``metrics.json`` with :func:`~.runner.run_one`, the very function a
sequential grid calls, and writes the outcome to the file the job names.
:mod:`.scheduler` writes the job, starts the worker in a process group of
its own with the slot's environment (``CUDA_VISIBLE_DEVICES``,
``MASTER_PORT``, ``OMP_NUM_THREADS``), which the training and test
commands inherit, and reads the outcome when the worker exits.

The job file (JSON)::

    {"config": ..., "seed": 0, "work_root": ...,
     "first_stage": <path or null>,   # RunSpec.first_stage
     "options": {...},            # the fields of LaunchOptions
     "outcome": "<path>",         # where the outcome goes
     "scheduler_pid": <int>}      # the process that started the worker

The outcome file (JSON, written atomically when the run ends)::

    {"ok": true}
    {"ok": false, "message": ..., "log": <path or null>, "offset": <int>}

A SIGTERM (the scheduler stopping the grid), or the death of the scheduler
on Linux, stops the run's command like a Ctrl-C stops a sequential grid:
the run folder keeps what it had, and the next grid resumes it.
"""
import os
import signal
import sys
import traceback

from lmfloss_mm.fileio import dump_json_atomic, load_json
from .launch import LaunchOptions
from .runner import RunFailed, failure_of, run_one
from .spec import RunSpec

__all__ = ['run_job']

#: ``prctl`` option that sends a signal to a process when its parent dies.
_PR_SET_PDEATHSIG = 1


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f'signal {signum}')


def _stop_with_parent(parent: int) -> None:
    """On Linux, have a SIGTERM sent to this process when the scheduler
    (process ``parent``) dies, even by SIGKILL; elsewhere nothing is
    done."""
    if not sys.platform.startswith('linux'):
        return
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def run_job(job: dict) -> dict:
    """Run the job's run; returns its outcome (see the module's
    docstring)."""
    spec = RunSpec(config=job['config'], seed=int(job['seed']),
                   work_root=job['work_root'],
                   first_stage=job.get('first_stage'))
    opts = LaunchOptions(**job['options'])
    try:
        run_one(spec, opts)
    except KeyboardInterrupt:
        return dict(ok=False, message='interrupted', log=None, offset=0)
    except Exception as exc:
        if not isinstance(exc, RunFailed):  # a RunFailed names its log
            traceback.print_exc()
        message, log, offset = failure_of(exc)
        return dict(ok=False, message=message, log=log, offset=offset)
    return dict(ok=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print('usage: python -m lmfloss_mm.grid.worker JOB.json',
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    job = load_json(argv[0])
    try:
        _stop_with_parent(int(job['scheduler_pid']))
        outcome = run_job(job)
    except KeyboardInterrupt:  # stopped before the run began
        outcome = dict(ok=False, message='interrupted', log=None, offset=0)
    dump_json_atomic(outcome, job['outcome'])
    if outcome['ok']:
        return 0
    return 130 if outcome['message'] == 'interrupted' else 1


if __name__ == '__main__':
    sys.exit(main())
