"""Run up to K runs of a grid at once: a pool of slots in this process.

A :class:`Slot` is what one run may use: its GPUs
(``CUDA_VISIBLE_DEVICES``), the master port of its distributed group
(``MASTER_PORT``, and ``--master_port`` of torchrun) and, on one machine,
its CPU threads (``OMP_NUM_THREADS``). :func:`plan_slots` makes K slots
from the visible GPUs (or a ``--devices`` list); :func:`run_parallel`
starts every run that is not done in the first free slot, as a worker
process (:mod:`.worker`, which calls :func:`~.runner.run_one` like a
sequential grid) in a process group of its own, polls the workers and
prints a line with the counts and the ETA whenever a run starts, ends or
fails.

A second-stage run (:mod:`.stages`) waits until its first stage's run has
ended, while other runs take the free slots; when the first stage failed,
it is reported failed without being started.

With ``--launcher slurm`` the runs' ``srun`` commands run side by side:
inside an allocation each is a job step, outside one each is a job of its
own; Slurm assigns the GPUs, the slots only give each run its own master
port.

Ctrl-C, SIGTERM or SIGHUP stop every worker's process group (SIGTERM, then
SIGKILL after a grace period); the run folders keep what they had, and the
same command resumes them.
"""
import heapq
import itertools
import os
import os.path as osp
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

from lmfloss_mm.fileio import dump_json_atomic, load_json
from lmfloss_mm.runner.progress import format_duration, format_eta
from .launch import LaunchOptions, open_log
from .layout import DONE, RECORD_FILE, WORKER_LOG, run_state
from .runner import failure_text, print_summary
from .spec import RunSpec

__all__ = ['Slot', 'parse_devices', 'visible_devices', 'plan_slots',
           'describe_slots', 'parallel_eta', 'run_parallel']

#: Seconds between two looks at the running workers.
POLL_SECONDS = 0.5
#: Seconds a stopped run's processes get to exit before they are killed.
STOP_GRACE_SECONDS = 30


@dataclass(frozen=True)
class Slot:
    """What one run of a parallel grid may use.

    Args:
        index (int): Position of the slot, from 0.
        devices (tuple[str], optional): The run's ``CUDA_VISIBLE_DEVICES``
            entries. ``None`` leaves the variable as it is (runs on the
            CPU, or on Slurm, which assigns the GPUs itself).
        port (int, optional): Master port of the run's process group
            (``MASTER_PORT`` and torchrun's ``--master_port``); ``None``
            without a launcher.
        threads (int, optional): The run's ``OMP_NUM_THREADS``; ``None``
            leaves the variable as it is.
    """
    index: int
    devices: Optional[Tuple[str, ...]] = None
    port: Optional[int] = None
    threads: Optional[int] = None

    @property
    def env(self) -> Dict[str, str]:
        """The environment variables the slot sets for its runs."""
        env = {}
        if self.devices is not None:
            env['CUDA_VISIBLE_DEVICES'] = ','.join(self.devices)
        if self.port is not None:
            env['MASTER_PORT'] = str(self.port)
        if self.threads is not None:
            env['OMP_NUM_THREADS'] = str(self.threads)
        return env

    def describe(self) -> str:
        """``CUDA_VISIBLE_DEVICES=0 MASTER_PORT=29500 ...``."""
        return ' '.join(f'{key}={shlex.quote(value)}'
                        for key, value in self.env.items()) or \
            'environment unchanged'

    def options(self, opts: LaunchOptions) -> LaunchOptions:
        """``opts`` with the slot's master port."""
        return opts if self.port is None else replace(opts, port=self.port)


def parse_devices(text: str) -> List[str]:
    """``'0,1,2'`` -> ``['0', '1', '2']``; entries may also be GPU UUIDs.
    Raises ``ValueError`` for an empty entry or one given twice."""
    devices = [item.strip() for item in text.split(',')]
    if not text.strip() or '' in devices:
        raise ValueError(f'--devices {text!r} has an empty entry; give a '
                         'comma-separated list such as 0,1,2,3')
    twice = sorted({d for d in devices if devices.count(d) > 1})
    if twice:
        raise ValueError(f'--devices {text!r} lists {", ".join(twice)} '
                         'more than once; two runs would share a GPU')
    return devices


def visible_devices(environ: Optional[Dict[str, str]] = None) -> List[str]:
    """The GPUs this process may use: the entries of
    ``CUDA_VISIBLE_DEVICES`` when it is set, else ``0 .. N-1`` for the N
    GPUs torch sees."""
    environ = os.environ if environ is None else environ
    value = environ.get('CUDA_VISIBLE_DEVICES')
    if value is not None:
        return [item.strip() for item in value.split(',') if item.strip()]
    import torch
    return [str(i) for i in range(torch.cuda.device_count())]


def _cpu_count() -> int:
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def plan_slots(parallel: int, opts: LaunchOptions,
               devices: Optional[Sequence[str]] = None,
               environ: Optional[Dict[str, str]] = None,
               cpu_count: Optional[int] = None) -> List[Slot]:
    """The ``parallel`` slots of a grid.

    Args:
        parallel (int): Runs at once (``--parallel``).
        opts (LaunchOptions): The launcher, the processes (GPUs) per run
            (``gpus``) and the first master port (``port``; slot i gets
            ``port + i``).
        devices (Sequence[str], optional): GPUs to share out
            (``--devices``), ``gpus`` consecutive ones per slot. Defaults to
            :func:`visible_devices` when ``parallel > 1``; a single run keeps
            the devices it inherits unless they are given.
        environ (dict, optional): The environment to read
            ``CUDA_VISIBLE_DEVICES`` and ``OMP_NUM_THREADS`` from. Defaults
            to ``os.environ``.
        cpu_count (int, optional): CPU cores to share out when
            ``OMP_NUM_THREADS`` is not set: each process of a run gets
            ``cpu_count // (parallel * gpus)`` threads (at least 1).
            Defaults to the cores this process may use.

    Raises:
        ValueError: ``parallel < 1``; fewer devices than ``parallel * gpus``;
            ``devices`` with ``--launcher slurm``.
    """
    if parallel < 1:
        raise ValueError(f'--parallel must be >= 1, got {parallel}')
    environ = os.environ if environ is None else environ
    ports = [None] * parallel if opts.launcher == 'none' else \
        [opts.port + i for i in range(parallel)]
    if opts.launcher == 'slurm':
        if devices is not None:
            raise ValueError(
                '--devices is for runs on this machine; with --launcher '
                'slurm, Slurm assigns each run its GPUs (--gpus, '
                '--gpus-per-node)')
        return [Slot(i, port=ports[i]) for i in range(parallel)]
    groups = [None] * parallel
    given = devices is not None
    if given or parallel > 1:
        devices = list(devices) if given else visible_devices(environ)
        need = parallel * opts.gpus
        if given or devices:
            if len(devices) < need:
                where = ('--devices gives' if given else
                         'this process sees')
                raise ValueError(
                    f'--parallel {parallel} x --gpus {opts.gpus} needs '
                    f'{need} GPUs but {where} {len(devices)} '
                    f'({",".join(devices)}): lower --parallel or --gpus, or '
                    'list more GPUs with --devices')
            groups = [tuple(devices[i * opts.gpus:(i + 1) * opts.gpus])
                      for i in range(parallel)]
    threads = None
    if parallel > 1 and 'OMP_NUM_THREADS' not in environ:
        cores = cpu_count or _cpu_count()
        threads = max(1, cores // (parallel * opts.gpus))
    return [Slot(i, groups[i], ports[i], threads) for i in range(parallel)]


def describe_slots(slots: Sequence[Slot], launcher: str = 'none') -> str:
    """A line that says how many runs go at once, then one per slot, and
    where the runs' GPUs come from when the slots do not set them."""
    lines = [f'{len(slots)} run(s) at a time, each in the first free slot:']
    lines += [f'  slot {slot.index + 1}: {slot.describe()}'
              for slot in slots]
    if launcher == 'slurm':
        lines.append('  Slurm assigns each run its GPUs (srun --gres).')
    elif all(slot.devices is None for slot in slots) and len(slots) > 1:
        lines.append('  No GPU is visible: the runs use the CPU.')
    return '\n'.join(lines)


def parallel_eta(mean: float, running: Sequence[float], waiting: int,
                 slots: int) -> float:
    """Seconds until the last run ends if every run takes ``mean`` seconds:
    the running ones (``running``: their elapsed seconds) end when they
    reach ``mean`` (now, if they are past it), and each waiting run starts
    in the first slot that frees up."""
    free_at = [max(0.0, mean - elapsed) for elapsed in running]
    free_at += [0.0] * max(0, slots - len(free_at))
    heapq.heapify(free_at)
    end = max(free_at, default=0.0)
    for _ in range(waiting):
        finish = heapq.heappop(free_at) + mean
        end = max(end, finish)
        heapq.heappush(free_at, finish)
    return end


@dataclass
class _Worker:
    """A run in progress: its worker process and the files it reports
    to."""
    tag: str
    spec: RunSpec
    slot: Slot
    proc: subprocess.Popen
    log: TextIO
    log_path: str
    offset: int
    outcome_path: str
    start: float

    def outcome(self) -> dict:
        """What the worker reported, or a failure naming its log when it
        reported nothing (it crashed or was killed)."""
        if osp.isfile(self.outcome_path):
            return load_json(self.outcome_path)
        return dict(ok=False, log=self.log_path, offset=self.offset,
                    message=f'the worker exited with code '
                    f'{self.proc.returncode} without an outcome')


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to the process group ``proc`` leads."""
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``KeyboardInterrupt`` (like Ctrl-C) while
    the block runs, so that the grid stops its runs before it exits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f'signal {signum}')

    names = [name for name in ('SIGTERM', 'SIGHUP') if hasattr(signal, name)]
    previous = {name: signal.signal(getattr(signal, name), interrupt)
                for name in names}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)


class _ParallelGrid:
    """The pool: runs waiting, workers running, results so far."""

    def __init__(self, specs: Sequence[RunSpec], opts: LaunchOptions,
                 slots: Sequence[Slot], out: TextIO, job_dir: str,
                 poll_seconds: float, stop_grace: float):
        self.specs, self.opts, self.out = specs, opts, out
        self.free = list(slots)
        self.slots = len(slots)
        self.job_dir = job_dir
        self.poll_seconds, self.stop_grace = poll_seconds, stop_grace
        self.jobs = itertools.count()
        self.waiting: List[Tuple[str, RunSpec]] = []
        self.running: List[_Worker] = []
        self.failures: List[Tuple[RunSpec, str, Optional[str]]] = []
        self.durations: List[float] = []
        self.skipped = 0

    def print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def status(self) -> str:
        """``N done, N running, N failed, N waiting, ETA X``; *done*
        counts the runs with ``metrics.json``, skipped ones included."""
        done = self.skipped + len(self.durations)
        text = (f'{done} done, {len(self.running)} running, '
                f'{len(self.failures)} failed, {len(self.waiting)} waiting')
        if self.durations and (self.running or self.waiting):
            now = time.time()
            mean = sum(self.durations) / len(self.durations)
            eta = parallel_eta(mean, [now - w.start for w in self.running],
                               len(self.waiting), self.slots)
            text += f', ETA {format_eta(eta)}'
        return text

    def start(self, tag: str, spec: RunSpec, slot: Slot) -> None:
        job = next(self.jobs)
        job_path = osp.join(self.job_dir, f'job-{job}.json')
        outcome_path = osp.join(self.job_dir, f'outcome-{job}.json')
        dump_json_atomic(dict(
            config=spec.config, seed=spec.seed, work_root=spec.work_root,
            first_stage=spec.first_stage,
            options=asdict(slot.options(self.opts)), outcome=outcome_path,
            scheduler_pid=os.getpid()), job_path)
        cmd = [self.opts.python, '-m', 'lmfloss_mm.grid.worker', job_path]
        log_path = osp.join(spec.run_dir, WORKER_LOG)
        log, offset = open_log(log_path, cmd)
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED='1', **slot.env))
        self.running.append(_Worker(tag, spec, slot, proc, log, log_path,
                                    offset, outcome_path, time.time()))
        where = f'slot {slot.index + 1}' + (
            f' ({slot.describe()})' if slot.env else '')
        self.print(f'{tag} started in {where} | {self.status()}')

    def collect(self, worker: _Worker) -> None:
        """Book a worker that has exited and free its slot."""
        worker.log.close()
        self.running.remove(worker)
        self.free.append(worker.slot)
        self.free.sort(key=lambda slot: slot.index)
        seconds = time.time() - worker.start
        outcome = worker.outcome()
        if outcome['ok']:
            self.durations.append(seconds)
            self.print(f'{worker.tag} done in {format_duration(seconds)} | '
                       f'{self.status()}')
            return
        message, log = outcome['message'], outcome.get('log')
        self.failures.append((worker.spec, message, log))
        first, *tail = failure_text(message, log,
                                    outcome.get('offset', 0)).split('\n')
        self.print('\n'.join([
            f'{worker.tag} FAILED after {format_duration(seconds)}: {first} '
            f'| {self.status()}'] + tail))

    def _next_ready(self) -> Optional[Tuple[str, RunSpec]]:
        """Take the first waiting run whose first stage (if any) is not
        waiting or running; a run whose first stage failed here is booked
        as failed on the way. None when every waiting run waits for a first
        stage."""
        pending = {osp.abspath(s.run_dir) for _, s in self.waiting} | {
            osp.abspath(w.spec.run_dir) for w in self.running}
        failed = {osp.abspath(s.run_dir) for s, _, _ in self.failures}
        for item in list(self.waiting):
            tag, spec = item
            first = spec.first_stage_spec
            if first is None:
                self.waiting.remove(item)
                return item
            first_dir = osp.abspath(first.run_dir)
            if first_dir in pending:
                continue
            self.waiting.remove(item)
            if first_dir not in failed:
                return item
            message = (f'not started: its first stage {first.stem} '
                       f'seed={first.seed} failed')
            self.failures.append((spec, message, None))
            failed.add(osp.abspath(spec.run_dir))
            self.print(f'{tag} FAILED: {message} | {self.status()}')
        return None

    def run(self) -> None:
        total = len(self.specs)
        for index, spec in enumerate(self.specs, 1):
            tag = f'[{index}/{total}] {spec.stem} seed={spec.seed}'
            if run_state(spec.run_dir) == DONE:
                self.skipped += 1
                self.print(f'{tag} ... skipped ({RECORD_FILE} exists)')
            else:
                self.waiting.append((tag, spec))
        while self.waiting or self.running:
            while self.waiting and self.free:
                ready = self._next_ready()
                if ready is None:
                    break
                self.start(*ready, self.free.pop(0))
            time.sleep(self.poll_seconds)
            for worker in list(self.running):
                if worker.proc.poll() is not None:
                    self.collect(worker)

    def stop(self) -> None:
        """Stop every running worker's process group: SIGTERM, then SIGKILL
        to what is left of the group after the grace period (at once on a
        second Ctrl-C)."""
        for worker in self.running:
            _signal_group(worker.proc, signal.SIGTERM)
        deadline = time.time() + self.stop_grace
        try:
            for worker in self.running:
                try:
                    worker.proc.wait(max(0.0, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    pass
        except KeyboardInterrupt:
            pass
        for worker in self.running:
            _signal_group(worker.proc, signal.SIGKILL)
            worker.proc.wait()
            worker.log.close()
            if worker.outcome()['ok']:  # it finished in the meantime
                self.print(f'{worker.tag} done')
            else:
                self.print(f'{worker.tag} interrupted; run the same command '
                           'again to continue from here')


def run_parallel(specs: Sequence[RunSpec], opts: LaunchOptions,
                 slots: Sequence[Slot], out: Optional[TextIO] = None,
                 poll_seconds: float = POLL_SECONDS,
                 stop_grace: float = STOP_GRACE_SECONDS) -> int:
    """Run every spec that is not done, ``len(slots)`` at a time; returns
    the number of failed runs.

    Runs start in the order of ``specs`` (seed-major), each in the first
    free slot. A failing run is reported with the end of its log and the
    others go on; the summary at the end is that of a sequential grid.

    Args:
        specs (Sequence[RunSpec]): The grid.
        opts (LaunchOptions): How the scripts are started; each slot sets
            its own master port.
        slots (Sequence[Slot]): From :func:`plan_slots`.
        out (TextIO, optional): Where the progress goes. Defaults to
            stdout.
        poll_seconds (float): Seconds between two looks at the workers.
        stop_grace (float): Seconds stopped runs get to exit before they
            are killed.

    Raises:
        KeyboardInterrupt: On Ctrl-C, SIGTERM or SIGHUP, after every run in
            progress has been stopped.
    """
    out = out or sys.stdout
    if not slots:
        raise ValueError('run_parallel needs at least one slot')
    with tempfile.TemporaryDirectory(prefix='lmfloss-grid-') as job_dir:
        grid = _ParallelGrid(specs, opts, slots, out, job_dir,
                             poll_seconds, stop_grace)
        grid.print(describe_slots(slots, opts.launcher))
        with _stop_signals_interrupt():
            try:
                grid.run()
            except BaseException:  # Ctrl-C, a signal, or a crash here
                grid.stop()
                raise
    failures = sorted(grid.failures, key=lambda f: specs.index(f[0]))
    print_summary(len(specs), len(grid.durations), grid.skipped, failures,
                  out)
    return len(grid.failures)
