"""The GPU check and benchmark (``tools/benchmark_gpu.py``): four parts,
each a child process within its own time budget, and their outputs.

:class:`GPUBenchmark` holds the parts:

1. ``tests``: the tests that a ``skipif`` mark skips when CUDA is hidden
   but not when it is visible (:mod:`.skip_probe`), in the test files
   that mention CUDA or a GPU;
2. ``losses``: ``tools/benchmark_losses.py`` on the GPU;
3. ``throughput``: ``tools/benchmark_throughput.py`` on the paper configs
   (CE and LMF, both backbones), resident and through the data pipeline;
4. ``cv``: ``tools/benchmark_isic2018_cv.py --gpu``, one call per fold; a
   fold that would not finish in the remaining budget is not started.

:func:`run_gpu_benchmark` runs them with :class:`~.parts.TimedParts` and
rewrites the outputs in ``--out`` after every part (``report.md``,
``results.json``, ``pytest.log``, ``cv_results.md``, ``logs.tar.gz``;
:func:`~.gpu_report.format_report` renders the report).
"""
import datetime
import importlib.metadata
import json
import os
import os.path as osp
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

from lmfloss_mm.fileio import atomic_open, write_text_atomic
from .cross_validation import ARCHS
from .gpu_report import format_report
from .parts import TimedParts, log, run_command, summary_line
from .throughput import SKIPPED_PREFIX

__all__ = ['PARTS', 'OUTPUTS', 'PAPER_CONFIG', 'LOSS_SHAPES', 'GPUBenchmark',
           'run_gpu_benchmark', 'environment', 'status_of',
           'parse_markdown_table', 'read_jsonl', 'lmf_vs_ce']

#: The parts, in the order they run.
PARTS = ('tests', 'losses', 'throughput', 'cv')
#: Files written to the output folder.
OUTPUTS = ('report.md', 'results.json', 'pytest.log', 'cv_results.md',
           'logs.tar.gz')
#: The paper configs of the throughput part (``{arch}``, ``{loss}``).
PAPER_CONFIG = 'configs/ham10000/{arch}_in1k-pre_1xb32-{loss}-100e_ham10000.py'
#: Batch x classes shapes of the losses part.
LOSS_SHAPES = ('32x7', '256x8', '256x1000', '1024x8142')
#: Seconds kept for writing the outputs after the last part, and for the
#: cv part when a part runs before it.
FINAL_RESERVE_S = 10.0
CV_RESERVE_S = 60.0


# ------------------------------------------------------------ environment
def package_versions() -> Dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    versions = {}
    for name in ('torch', 'torchvision', 'numpy', 'mmengine', 'mmcv',
                 'mmcv-lite', 'mmpretrain', 'setuptools', 'pytest'):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def gpu_description() -> str:
    """``nvidia-smi``'s name, memory and driver of every GPU, or ''."""
    try:
        out = subprocess.run(
            ['nvidia-smi', '--query-gpu=name,memory.total,driver_version',
             '--format=csv,noheader'], capture_output=True, text=True,
            timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ''
    return '; '.join(line.strip() for line in out.stdout.splitlines()
                     if line.strip())


def environment(device: str) -> dict:
    """Start time, Python, platform, CPUs, GPUs (``device='cuda'``) and
    package versions."""
    return dict(
        started=datetime.datetime.now().isoformat(timespec='seconds'),
        python=platform.python_version(), platform=platform.platform(),
        cpus=os.cpu_count(), gpu=gpu_description() if device == 'cuda'
        else '', packages=package_versions())


# ---------------------------------------------------------------- parsing
def status_of(result) -> str:
    """``'ok'``, ``'failed'`` or ``'timeout'`` of a finished command."""
    if result['timed_out']:
        return 'timeout'
    return 'ok' if result['rc'] == 0 else 'failed'


def parse_markdown_table(lines: Sequence[str], first: str) -> List[dict]:
    """Rows (dicts) of the Markdown table in ``lines`` whose header starts
    with ``| <first> |``."""
    rows, header = [], None
    for line in lines:
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if header is None:
            if line.startswith('|') and cells and cells[0] == first:
                header = cells
            continue
        if not line.startswith('|'):
            header = None
            continue
        if set(''.join(cells)) <= set('-: '):
            continue
        rows.append(dict(zip(header, cells)))
    return rows


def read_jsonl(path: str) -> List[dict]:
    """The objects of a JSON-lines file ([] when it does not exist)."""
    if not osp.isfile(path):
        return []
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def lmf_vs_ce(rows: Sequence[dict]) -> List[dict]:
    """LMF / CE images-per-second ratio of every measurement pair (same
    arch, source, memory format and cache)."""

    def key(row):
        return (row['arch'], row['source'], row['memory_format'],
                row.get('cache_images'))

    by_loss: Dict[tuple, dict] = {}
    for row in rows:
        by_loss.setdefault(key(row), {})[row['loss']] = row
    pairs = []
    for (arch, source, memory_format, cache), losses in by_loss.items():
        ce, lmf = losses.get('CrossEntropyLoss'), losses.get('LMFLoss')
        if ce and lmf:
            pairs.append(dict(
                arch=arch, source=source, memory_format=memory_format,
                cache_images=cache, ce_images_per_s=ce['images_per_s'],
                lmf_images_per_s=lmf['images_per_s'],
                ratio=lmf['images_per_s'] / ce['images_per_s']))
    return pairs


# ------------------------------------------------------------------ parts
class GPUBenchmark:
    """The parts of the GPU benchmark, their commands and their outputs.

    Creating it makes the output and log folders and removes the outputs
    of an earlier run.

    Args:
        args (argparse.Namespace): The options of ``tools/benchmark_gpu.py``
            (``out``, ``work_dir``, ``device``, ``amp``, the budgets and
            the settings of every part).
        repo (str): The repository checkout: the tools run from there and
            its ``tests/`` are searched for the CUDA tests.
    """

    def __init__(self, args, repo: str):
        self.args = args
        self.repo = Path(repo).resolve()
        self.out = osp.abspath(args.out)
        self.work = osp.abspath(args.work_dir)
        self.logs = osp.join(self.work, 'logs')
        self.cv_root = osp.join(self.work, 'cv')
        self.throughput_file = osp.join(self.work, 'throughput.jsonl')
        self.losses_file = osp.join(self.work, 'losses.json')
        for folder in (self.out, self.logs):
            os.makedirs(folder, exist_ok=True)
        for path in [osp.join(self.out, name) for name in OUTPUTS] + [
                self.throughput_file, self.losses_file]:
            if osp.exists(path):
                os.remove(path)
        self.env = dict(os.environ, PYTHONUNBUFFERED='1')
        self.env['PYTHONPATH'] = os.pathsep.join(
            [str(self.repo)] + [p for p in self.env.get(
                'PYTHONPATH', '').split(os.pathsep) if p])
        self.environment = environment(args.device)
        self.start = time.monotonic()

    def command(self, name: str, cmd, timeout_s: float, log_name: str = None):
        """Run ``cmd`` in the checkout, logged to ``logs/<name>.log``."""
        return run_command(cmd, timeout_s,
                           osp.join(self.logs, log_name or f'{name}.log'),
                           prefix=f'[{name}] ', env=self.env,
                           cwd=str(self.repo))

    def cpu_threads(self) -> List[str]:
        """One torch thread for CPU rehearsals (other jobs share the cores;
        waiting OpenMP threads slow everything down)."""
        return ['--threads', '1'] if self.args.device == 'cpu' else []

    # 1 ------------------------------------------------------------- tests
    def gpu_test_files(self) -> List[str]:
        """Test files that mention CUDA or a GPU."""
        return sorted(
            str(p.relative_to(self.repo))
            for p in (self.repo / 'tests').rglob('test_*.py')
            if re.search(r'(?i)cuda|gpu', p.read_text(encoding='utf-8')))

    def skipped_tests(self, files: Sequence[str], hide_cuda: bool,
                      timeout_s: float) -> List[str]:
        """Node ids that a ``skipif`` mark skips, collected with
        :mod:`.skip_probe` (CUDA hidden or not)."""
        out = osp.join(self.work, f'skipped_hide_cuda{int(hide_cuda)}.json')
        if osp.exists(out):
            os.remove(out)
        env = dict(self.env, LMFLOSS_MM_SKIP_PROBE_OUT=out,
                   LMFLOSS_MM_HIDE_CUDA='1' if hide_cuda else '0')
        run_command([sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider',
                     '-p', 'lmfloss_mm.benchmarking.skip_probe',
                     '--collect-only', '-q', *files], timeout_s,
                    osp.join(self.logs, 'tests_collect.log'), env=env,
                    cwd=str(self.repo), echo=False)
        if not osp.isfile(out):
            raise RuntimeError(f'collecting {files} wrote no {out}; see '
                               'logs/tests_collect.log')
        with open(out, encoding='utf-8') as f:
            return json.load(f)

    def tests(self, budget_s: float) -> dict:
        """Run the tests skipped without CUDA but not with it (on a CPU:
        every test skipped without CUDA, to rehearse the run)."""
        deadline = time.monotonic() + budget_s
        files = self.gpu_test_files()
        if not files:
            raise RuntimeError('no test file under tests/ mentions CUDA')
        need_cuda = self.skipped_tests(files, True, budget_s / 3)
        if self.args.device == 'cuda':
            skipped_anyway = set(self.skipped_tests(files, False,
                                                    budget_s / 3))
            need_cuda = [t for t in need_cuda if t not in skipped_anyway]
        if not need_cuda:
            raise RuntimeError(f'no test in {files} is skipped without CUDA')
        log_path = osp.join(self.out, 'pytest.log')
        # -v: one line per finished test, kept if the run is stopped
        result = run_command(
            [sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-v',
             '-rfEs', '--durations=5', *need_cuda],
            deadline - time.monotonic(), log_path, prefix='[tests] ',
            env=self.env, cwd=str(self.repo))
        with open(log_path, encoding='utf-8') as f:
            lines = f.read().splitlines()
        outcome = re.compile(
            r'^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b')
        outcomes = [' '.join(m.groups()[::-1]) for m in map(outcome.match,
                                                           lines) if m]
        summary = summary_line(lines)
        counts = {word: int(n) for n, word in re.findall(
            r'(\d+) (passed|failed|skipped|errors?|deselected)', summary)}
        status = 'ok' if result.ok else (
            'timeout' if result['timed_out'] else 'failed')
        if status == 'ok' and self.args.device == 'cuda' and (
                counts.get('passed', 0) == 0 or counts.get('skipped', 0)):
            status = 'failed'  # on a GPU nothing may skip
        return dict(status=status, files=files, selected=need_cuda,
                    summary=summary, counts=counts, outcomes=outcomes,
                    command=result)

    # 2 ------------------------------------------------------------ losses
    def losses(self, budget_s: float) -> dict:
        """``tools/benchmark_losses.py`` on the chosen shapes."""
        args = self.args
        result = self.command('losses', [
            sys.executable, 'tools/benchmark_losses.py', '--device',
            args.device, '--shapes', *args.loss_shapes, '--min-run-time',
            str(args.loss_min_run_time), '--repeats', str(args.loss_repeats),
            '--json', self.losses_file, *self.cpu_threads()], budget_s)
        with open(osp.join(self.logs, 'losses.log'), encoding='utf-8') as f:
            table = parse_markdown_table(f.read().splitlines(),
                                         first='device')
        measurements = None
        if osp.isfile(self.losses_file):
            with open(self.losses_file, encoding='utf-8') as f:
                measurements = json.load(f)
        return dict(status=status_of(result), rows=table,
                    measurements=measurements, command=result)

    # 3 -------------------------------------------------------- throughput
    def throughput(self, budget_s: float) -> dict:
        """``tools/benchmark_throughput.py`` on the CE and LMF paper
        configs of both backbones."""
        args = self.args
        configs = [PAPER_CONFIG.format(arch=arch, loss=loss)
                   for arch in ARCHS for loss in ('ce', 'lmf')]
        cmd = [sys.executable, 'tools/benchmark_throughput.py', *configs,
               '--device', args.device, '--batch-size', str(args.batch_size),
               '--img-size', str(args.img_size), '--steps', str(args.steps),
               '--warmup', str(args.warmup), '--repeats', str(args.repeats),
               '--memory-formats', 'contiguous', 'channels_last',
               '--data-root', args.data, '--split', 'isic2018_test',
               '--workers', str(args.workers), '--loader-steps',
               str(args.loader_steps), '--decode-baseline', '--out',
               self.throughput_file, '--budget-s', str(0.85 * budget_s)]
        if args.amp:
            cmd += ['--amp', args.amp]
        cmd += self.cpu_threads()
        result = self.command('throughput', cmd, budget_s)
        rows = read_jsonl(self.throughput_file)
        skipped = []
        with open(osp.join(self.logs, 'throughput.log'),
                  encoding='utf-8') as f:
            for line in f:
                if line.startswith(SKIPPED_PREFIX):
                    skipped = json.loads(line[len(SKIPPED_PREFIX):])
        status = status_of(result)
        if status == 'ok' and skipped:
            status = 'partial'
        return dict(status=status, rows=rows, skipped=skipped,
                    lmf_vs_ce=lmf_vs_ce(rows), command=result)

    # 4 ---------------------------------------------------------------- cv
    def cv_command(self, fold=None, report_only=False) -> List[str]:
        """The cross-validation tool's command for one fold (all folds when
        None), or for rebuilding its report."""
        args = self.args
        cmd = [sys.executable, 'tools/benchmark_isic2018_cv.py', '--gpu',
               '--arch', args.cv_arch, '--from-scratch', '--cache-images',
               '--workers', str(args.workers), '--data', args.data,
               '--work-root', self.cv_root, '--losses', *args.cv_losses,
               '--folds', str(args.cv_folds), '--seeds', str(args.cv_seed),
               '--epochs', str(args.cv_epochs), '--img-size',
               str(args.img_size), '--cfg-options',
               *self.cv_cfg_options()]
        if args.amp:
            cmd += ['--amp', args.amp]
        cmd += self.cpu_threads()
        if report_only:
            cmd.append('--report-only')
        elif fold is not None:
            cmd += ['--run-folds', str(fold)]
        return cmd

    def cv_cfg_options(self) -> List[str]:
        """Learning rate and schedule of the from-scratch runs; checkpoints
        without optimizer state and no per-epoch checkpoint (the best one
        is still kept and tested)."""
        return [f'optim_wrapper.optimizer.lr={self.args.cv_lr}',
                f'param_scheduler.step_size={self.args.cv_lr_step}',
                'default_hooks.checkpoint.interval=-1',
                'default_hooks.checkpoint.save_optimizer=False']

    def cv(self, budget_s: float) -> dict:
        """The folds one call each, while 1.1x the slowest fold so far
        fits in what is left of ``budget_s``."""
        args = self.args
        deadline = time.monotonic() + budget_s
        folds = args.cv_run_folds if args.cv_run_folds is not None else \
            list(range(args.cv_folds))
        done, failed, not_started, slowest = [], [], [], 0.0
        status = 'ok'
        for fold in folds:
            left = deadline - time.monotonic()
            if slowest and 1.1 * slowest > left:
                not_started = folds[folds.index(fold):]
                log(f'cv: {left:.0f} s left, a fold took {slowest:.0f} s; '
                    f'folds {not_started} not started', self.start)
                status = 'partial'
                break
            result = self.command('cv', self.cv_command(fold), left)
            slowest = max(slowest, result['seconds'])
            if result['timed_out']:
                status = 'timeout'
                not_started = folds[folds.index(fold) + 1:]
                break
            (done if result.ok else failed).append(fold)
        if failed:
            status = 'failed'
        results_md = osp.join(self.cv_root, 'results.md')
        if status == 'timeout' and stored_runs(self.cv_root):
            # the stopped fold's finished runs are stored; rebuild the report
            self.command('cv', self.cv_command(report_only=True), 60)
        if osp.isfile(results_md):
            shutil.copyfile(results_md, osp.join(self.out, 'cv_results.md'))
        return dict(status=status, folds_done=done, folds_failed=failed,
                    folds_not_started=not_started,
                    slowest_fold_s=round(slowest, 1),
                    records=read_jsonl(osp.join(self.cv_root, 'runs.jsonl')),
                    cfg_options=self.cv_cfg_options(),
                    command=' '.join(self.cv_command()))

    # ------------------------------------------------------------ outputs
    def write(self, results: Dict[str, dict]) -> None:
        """Write results.json, report.md and logs.tar.gz (each atomically)."""
        data = dict(environment=self.environment, settings=vars(self.args),
                    elapsed_s=round(time.monotonic() - self.start, 1),
                    parts=results)
        write_text_atomic(osp.join(self.out, 'results.json'), json.dumps(
            data, indent=1, sort_keys=True, default=str))
        write_text_atomic(osp.join(self.out, 'report.md'),
                          format_report(data))
        self.pack_logs()

    def pack_logs(self) -> None:
        """``logs.tar.gz``: every part's log, the loss and throughput
        measurements and every cross-validation run's record, log and
        validation curve (no checkpoints)."""
        members = sorted(Path(self.logs).glob('*.log'))
        members += [Path(p) for p in (self.throughput_file, self.losses_file)
                    if osp.isfile(p)]
        runs = Path(self.cv_root)
        for pattern in ('results.md', 'runs.csv', 'runs.jsonl',
                        'runs/*/*/*.json', 'runs/*/*/*/*.log',
                        'runs/*/*/*/vis_data/scalars.json'):
            members += sorted(runs.glob(pattern))
        with atomic_open(osp.join(self.out, 'logs.tar.gz'),
                         binary=True) as f:
            with tarfile.open(fileobj=f, mode='w:gz') as tar:
                for path in members:
                    tar.add(str(path), arcname=osp.relpath(path, self.work))


def stored_runs(root: str) -> List[Path]:
    """The stored run records under a cross-validation work root."""
    return sorted(Path(root).glob('runs/*/*/*.json'))


def run_gpu_benchmark(args, repo: str) -> Dict[str, dict]:
    """Run ``args.parts`` in order, each within its budget and what is left
    of ``args.budget_s``, writing the outputs after every part.

    Args:
        args (argparse.Namespace): The options of ``tools/benchmark_gpu.py``.
        repo (str): The repository checkout.

    Returns:
        dict: Part name -> its record (``status``, ``seconds``, results).
    """
    bench = GPUBenchmark(args, repo)
    log(f'benchmark_gpu: parts {args.parts}, budget {args.budget_s:.0f} s, '
        f'device {args.device}, out {bench.out}')
    parts = TimedParts(args.budget_s, on_update=bench.write)
    budgets = dict(tests=args.tests_budget_s, losses=args.losses_budget_s,
                   throughput=args.throughput_budget_s, cv=None)
    for index, name in enumerate(args.parts):
        reserve = FINAL_RESERVE_S + (
            CV_RESERVE_S if 'cv' in args.parts[index + 1:] else 0.0)
        parts.run(name, getattr(bench, name), budgets[name],
                  reserve_s=reserve, min_s=5.0)
    bench.write(parts.results)
    log(f'benchmark_gpu: done in {time.monotonic() - bench.start:.0f} s; '
        + ', '.join(f'{k} {v["status"]}' for k, v in parts.results.items())
        + f'; report {osp.join(bench.out, "report.md")}')
    return parts.results
