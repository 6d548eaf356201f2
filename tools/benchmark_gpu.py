"""Check and benchmark the project on one CUDA GPU, within a time budget.

Four parts run one after the other, each as a child process with its own
time budget (a part that fails or runs out of time does not stop the
others), and the report is rewritten after every part:

1. ``tests``: the tests that need CUDA: those a ``skipif`` mark skips when
   CUDA is hidden but not when it is visible
   (:mod:`lmfloss_mm.benchmarking.skip_probe`), in the test files that
   mention CUDA or a GPU.
2. ``losses``: ``tools/benchmark_losses.py --device cuda`` for 32x7, 256x8,
   256x1000 and 1024x8142 logits (CE, focal, LDAM, LMF and the official
   code's composition).
3. ``throughput``: ``tools/benchmark_throughput.py``: training images/s of
   ResNet-50 and EfficientNetV2-S (paper configs, pretrained init removed),
   cross-entropy and LMF, batch 32, 224 px, mixed precision, on a batch
   already on the GPU (contiguous and channels_last) and through the real
   data pipeline over the ISIC 2018 images (``--data``).
4. ``cv``: ``tools/benchmark_isic2018_cv.py --gpu``: ResNet-50 from scratch
   at 224 px, cross-entropy and LMF, k-fold cross-validation, mixed
   precision, images decoded once per run (``--cache-images``), Adam with
   ``--cv-lr`` dropping x0.1 every ``--cv-lr-step`` epochs.  Folds run
   one at a time; a fold that would not finish in the remaining budget
   (estimated from the slowest fold so far) is not started.

Outputs in ``--out`` (few files): ``report.md`` (everything readable),
``results.json`` (everything parsed), ``pytest.log``, ``cv_results.md``
(the cross-validation report: mean ± std, paired differences to
cross-entropy with 95% intervals) and ``logs.tar.gz`` (the log of every
part, the loss and throughput measurements, every cross-validation run's
record, log and validation curve; no checkpoints).  Everything else
(checkpoints, the benchmark's data root) stays in ``--work-dir``.

Examples::

    python tools/benchmark_gpu.py --out gpu_report                # CUDA
    python tools/benchmark_gpu.py --out gpu_report --budget-s 900 \
        --cv-epochs 30
    python tools/benchmark_gpu.py --out rehearsal --device cpu --quick
    python tools/benchmark_gpu.py --out gpu_report --parts cv     # one part
"""
import argparse
import datetime
import importlib.metadata
import io
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

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from lmfloss_mm.benchmarking.parts import (TimedParts, log,  # noqa: E402
                                           run_command, summary_line)
from lmfloss_mm.benchmarking.throughput import SKIPPED_PREFIX  # noqa: E402

PARTS = ('tests', 'losses', 'throughput', 'cv')
DEFAULT_DATA = REPO / '..' / 'shared' / 'data' / 'isic2018_task3_test'
PAPER_CONFIG = 'configs/ham10000/{arch}_in1k-pre_1xb32-{loss}-100e_ham10000.py'
ARCHS = ('resnet50', 'efficientnetv2-s')
LOSS_SHAPES = ('32x7', '256x8', '256x1000', '1024x8142')

#: Settings of ``--quick`` (a smoke run on any machine); explicit arguments
#: still win.
QUICK = dict(budget_s=1200, tests_budget_s=300, losses_budget_s=120,
             throughput_budget_s=400, loss_shapes=['32x7', '256x8'],
             loss_min_run_time=0.05, loss_repeats=1, img_size=32,
             batch_size=4, steps=2, warmup=1, repeats=1, loader_steps=2,
             cv_epochs=1, cv_run_folds=[0], workers=2)
#: Files written to ``--out``.
OUTPUTS = ('report.md', 'results.json', 'pytest.log', 'cv_results.md',
           'logs.tar.gz')


def build_parser():
    parser = argparse.ArgumentParser(
        description='Check and benchmark lmfloss-mm on one CUDA GPU within '
        'a time budget (tests, loss speed, training throughput, '
        'cross-validated benchmark).')
    parser.add_argument('--out', required=True,
                        help='output folder (created; files are replaced)')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_gpu',
                        help='checkpoints, data root, full logs')
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda',
                        help='cpu: a rehearsal (CUDA tests skip, no mixed '
                        'precision)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny settings for a smoke run: ' + ', '.join(
                            f'{k}={v}' for k, v in QUICK.items()))
    parser.add_argument('--parts', nargs='+', choices=PARTS,
                        default=list(PARTS), help='parts to run, in order')
    parser.add_argument('--budget-s', type=float, default=420,
                        help='time budget of the whole run in seconds')
    parser.add_argument('--tests-budget-s', type=float, default=75,
                        help='time limit of the tests part')
    parser.add_argument('--losses-budget-s', type=float, default=40,
                        help='time limit of the losses part')
    parser.add_argument('--throughput-budget-s', type=float, default=110,
                        help='time limit of the throughput part (the cv '
                        'part gets what is left of --budget-s)')
    parser.add_argument('--data', default=str(DEFAULT_DATA),
                        help='ISIC 2018 Task 3 test images and ground truth '
                        '(default: ../shared/data/isic2018_task3_test)')
    parser.add_argument('--workers', type=int,
                        default=min(8, os.cpu_count() or 1),
                        help='data-loader processes per dataloader (default: '
                        'min(8, CPUs))')
    parser.add_argument('--amp', choices=('bf16', 'fp16', 'none'),
                        default='bf16',
                        help='mixed precision of throughput and cv on CUDA')
    # losses
    parser.add_argument('--loss-shapes', nargs='+', default=list(LOSS_SHAPES),
                        help='batch x classes shapes of the losses part')
    parser.add_argument('--loss-min-run-time', type=float, default=0.2,
                        help='seconds of measurement per loss, shape and '
                        'repeat')
    parser.add_argument('--loss-repeats', type=int, default=3,
                        help='repeats of the loss timing (median and range)')
    # throughput
    parser.add_argument('--img-size', type=int, default=224,
                        help='input size of throughput and cv')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='batch size of the throughput part (cv: the '
                        'configs\' 32)')
    parser.add_argument('--steps', type=int, default=30,
                        help='timed steps of a resident measurement')
    parser.add_argument('--warmup', type=int, default=15,
                        help='untimed steps before the first measurement '
                        'of a model')
    parser.add_argument('--repeats', type=int, default=3,
                        help='resident measurements per config (median)')
    parser.add_argument('--loader-steps', type=int, default=60,
                        help='timed steps of a loader measurement')
    # cross-validation
    parser.add_argument('--cv-arch', choices=ARCHS, default='resnet50',
                        help='backbone of the cv runs')
    parser.add_argument('--cv-losses', nargs='+', default=['ce', 'lmf'],
                        choices=('ce', 'focal', 'ldam', 'lmf'),
                        help='losses of the cv runs (ce first: the '
                        'reference of the paired differences)')
    parser.add_argument('--cv-folds', type=int, default=5,
                        help='cross-validation folds')
    parser.add_argument('--cv-run-folds', type=int, nargs='+', default=None,
                        help='folds to train (default: all)')
    parser.add_argument('--cv-seed', type=int, default=0,
                        help='training seed of the cv runs')
    parser.add_argument('--cv-epochs', type=int, default=15,
                        help='training epochs of every cv run')
    parser.add_argument(
        '--cv-lr', type=float, default=1e-3,
        help='Adam learning rate of the from-scratch cv runs (the paper '
        'configs\' 1e-4 is for fine-tuning pretrained weights)')
    parser.add_argument(
        '--cv-lr-step', type=int, default=None,
        help='StepLR step_size of the cv runs: the learning rate drops '
        'x0.1 every this many epochs (default: 2/3 of --cv-epochs, i.e. '
        'one drop, as the cpu preset\'s 8 of 12)')
    return parser


def parse_args(argv=None):
    parser = build_parser()
    known, _ = parser.parse_known_args(argv)
    if known.quick:
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error('--budget-s must be > 0')
    for name in ('cv_epochs', 'cv_folds', 'steps', 'batch_size', 'img_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.cv_folds < 2:
        parser.error('--cv-folds must be >= 2')
    if args.cv_run_folds and not all(0 <= f < args.cv_folds
                                     for f in args.cv_run_folds):
        parser.error(f'--cv-run-folds must be in [0, {args.cv_folds})')
    if args.cv_lr_step is None:
        args.cv_lr_step = max(1, round(2 * args.cv_epochs / 3))
    if args.cv_lr_step < 1:
        parser.error('--cv-lr-step must be >= 1')
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            parser.error('--device cuda: CUDA is not available here. For a '
                         'rehearsal on the CPU use --device cpu --quick.')
    if args.device == 'cpu' or args.amp == 'none':
        args.amp = None  # AmpOptimWrapper needs CUDA
    return args


# ------------------------------------------------------------ environment
def package_versions() -> dict:
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


def environment(args) -> dict:
    return dict(
        started=datetime.datetime.now().isoformat(timespec='seconds'),
        python=platform.python_version(), platform=platform.platform(),
        cpus=os.cpu_count(), gpu=gpu_description() if args.device == 'cuda'
        else '', packages=package_versions())


# ------------------------------------------------------------------ parts
class Benchmark:
    """The parts, their commands and the files they write."""

    def __init__(self, args):
        self.args = args
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
            [str(REPO)] + [p for p in self.env.get('PYTHONPATH', '').split(
                os.pathsep) if p])
        self.environment = environment(args)
        self.start = time.monotonic()

    def command(self, name: str, cmd, timeout_s: float, log_name: str = None):
        return run_command(cmd, timeout_s,
                           osp.join(self.logs, log_name or f'{name}.log'),
                           prefix=f'[{name}] ', env=self.env, cwd=str(REPO))

    # 1 ------------------------------------------------------------- tests
    def gpu_test_files(self):
        """Test files that mention CUDA or a GPU."""
        return sorted(
            str(p.relative_to(REPO)) for p in (REPO / 'tests').rglob(
                'test_*.py') if re.search(r'(?i)cuda|gpu', p.read_text(
                    encoding='utf-8')))

    def skipped_tests(self, files, hide_cuda: bool, timeout_s: float):
        """Node ids that a ``skipif`` mark skips, collected with
        :mod:`lmfloss_mm.benchmarking.skip_probe` (CUDA hidden or not)."""
        out = osp.join(self.work, f'skipped_hide_cuda{int(hide_cuda)}.json')
        if osp.exists(out):
            os.remove(out)
        env = dict(self.env, LMFLOSS_MM_SKIP_PROBE_OUT=out,
                   LMFLOSS_MM_HIDE_CUDA='1' if hide_cuda else '0')
        run_command([sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider',
                     '-p', 'lmfloss_mm.benchmarking.skip_probe',
                     '--collect-only', '-q', *files], timeout_s,
                    osp.join(self.logs, 'tests_collect.log'), env=env,
                    cwd=str(REPO), echo=False)
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
            env=self.env, cwd=str(REPO))
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
        args = self.args
        result = self.command('losses', [
            sys.executable, 'tools/benchmark_losses.py', '--device',
            args.device, '--shapes', *args.loss_shapes, '--min-run-time',
            str(args.loss_min_run_time), '--repeats', str(args.loss_repeats),
            '--json', self.losses_file, *self.cpu_threads()], budget_s)
        with open(osp.join(self.logs, 'losses.log'), encoding='utf-8') as f:
            table = markdown_table(f.read().splitlines(), first='device')
        measurements = None
        if osp.isfile(self.losses_file):
            with open(self.losses_file, encoding='utf-8') as f:
                measurements = json.load(f)
        return dict(status=status_of(result), rows=table,
                    measurements=measurements, command=result)

    # 3 -------------------------------------------------------- throughput
    def throughput(self, budget_s: float) -> dict:
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
    def cv_command(self, fold=None, report_only=False):
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

    def cpu_threads(self):
        """One torch thread for CPU rehearsals (other jobs share the cores;
        waiting OpenMP threads slow everything down)."""
        return ['--threads', '1'] if self.args.device == 'cpu' else []

    def cv_cfg_options(self):
        """Learning rate and schedule of the from-scratch runs; checkpoints
        without optimizer state and no per-epoch checkpoint (the best one
        is still kept and tested)."""
        return [f'optim_wrapper.optimizer.lr={self.args.cv_lr}',
                f'param_scheduler.step_size={self.args.cv_lr_step}',
                'default_hooks.checkpoint.interval=-1',
                'default_hooks.checkpoint.save_optimizer=False']

    def cv(self, budget_s: float) -> dict:
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
        if status == 'timeout' and glob_results(self.cv_root):
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
    def settings(self) -> dict:
        return {k: v for k, v in vars(self.args).items()}

    def write(self, results: dict) -> None:
        """Write results.json, report.md and logs.tar.gz (each atomically)."""
        data = dict(environment=self.environment, settings=self.settings(),
                    elapsed_s=round(time.monotonic() - self.start, 1),
                    parts=results)
        write_atomic(osp.join(self.out, 'results.json'),
                     json.dumps(data, indent=1, sort_keys=True, default=str))
        write_atomic(osp.join(self.out, 'report.md'), format_report(data))
        self.pack_logs()

    def pack_logs(self) -> None:
        members = sorted(Path(self.logs).glob('*.log'))
        members += [Path(p) for p in (self.throughput_file, self.losses_file)
                    if osp.isfile(p)]
        runs = Path(self.cv_root)
        for pattern in ('results.md', 'runs.csv', 'runs.jsonl',
                        'runs/*/*/*.json', 'runs/*/*/*/*.log',
                        'runs/*/*/*/vis_data/scalars.json'):
            members += sorted(runs.glob(pattern))
        tmp = osp.join(self.out, '.logs.tar.gz.tmp')
        with tarfile.open(tmp, 'w:gz') as tar:
            for path in members:
                tar.add(str(path), arcname=osp.relpath(path, self.work))
        os.replace(tmp, osp.join(self.out, 'logs.tar.gz'))


# ---------------------------------------------------------------- parsing
def status_of(result) -> str:
    if result['timed_out']:
        return 'timeout'
    return 'ok' if result['rc'] == 0 else 'failed'


def markdown_table(lines, first: str):
    """Rows (dicts) of the Markdown table whose header starts with
    ``| <first> |``."""
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


def read_jsonl(path: str):
    if not osp.isfile(path):
        return []
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def glob_results(root: str):
    """The stored run records under a cross-validation work root."""
    return sorted(Path(root).glob('runs/*/*/*.json'))


def lmf_vs_ce(rows):
    """LMF / CE images-per-second ratio of every measurement pair (same
    arch, source, memory format and cache)."""

    def key(row):
        return (row['arch'], row['source'], row['memory_format'],
                row.get('cache_images'))

    by_loss = {}
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


# ----------------------------------------------------------------- report
def write_atomic(path: str, text: str) -> None:
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, path)


def format_report(data: dict) -> str:
    env, settings, parts = data['environment'], data['settings'], \
        data['parts']
    out = io.StringIO()

    def w(text=''):
        out.write(text + '\n')

    w('# lmfloss-mm GPU check and benchmark')
    w()
    w(f'Started {env["started"]}; {data["elapsed_s"]:.0f} s of the '
      f'{settings["budget_s"]:.0f} s budget used. Device '
      f'`{settings["device"]}`' + (f' ({env["gpu"]})' if env['gpu'] else '')
      + f', {env["cpus"]} CPUs, Python {env["python"]}, ' + ', '.join(
          f'{k} {v}' for k, v in env['packages'].items()) + '.')
    w()
    w('| part | status | seconds | budget (s) |')
    w('|---|---|---|---|')
    for name, record in parts.items():
        w(f'| {name} | {record["status"]} | {record.get("seconds", 0):.0f} '
          f'| {record.get("budget_s", 0):.0f} |')
    for name, record in parts.items():
        w()
        w(f'## {name}')
        w()
        if record.get('error'):
            w(f'Error: `{record["error"]}`')
            w()
        writer = SECTION_WRITERS.get(name)
        if writer is not None and record['status'] != 'skipped':
            writer(w, record, settings)
        tail = (record.get('command') or {}).get('tail') \
            if isinstance(record.get('command'), dict) else None
        if record['status'] not in ('ok', 'skipped') and tail:
            w()
            w('Last output lines:')
            w()
            w('```')
            for line in tail[-20:]:
                w(line)
            w('```')
    return out.getvalue()


def _num(value: float) -> str:
    """A rate or time with 3 significant digits, no exponent."""
    return f'{value:.0f}' if abs(value) >= 100 else f'{value:.3g}'


def _tests_section(w, record, settings):
    files = sorted({node.split('::')[0] for node in record['selected']})
    w(f'The {len(record["selected"])} tests that a `skipif` mark skips '
      f'without CUDA (in {", ".join(files)}): '
      f'**{record["summary"] or "no summary line"}**.')
    w()
    for line in record['outcomes']:
        w(f'- {line}')


def _losses_section(w, record, settings):
    rows = record['rows']
    if not rows:
        w('No result table in the output.')
        return
    header = list(rows[0])
    w('| ' + ' | '.join(header) + ' |')
    w('|' + '---|' * len(header))
    for row in rows:
        w('| ' + ' | '.join(row.get(h, '') for h in header) + ' |')


def _throughput_section(w, record, settings):
    rows = record['rows']
    if not rows:
        w('No measurement finished.')
        return
    first = rows[0]
    w(f'Batch {first["batch_size"]}, {first["img_size"]} px, mixed '
      f'precision {first["amp"] or "off (float32)"}, {first["device_name"]},'
      f' torch {first["torch"]}; forward + loss + backward + Adam step '
      '(`model.train_step`), synchronised timing after warm-up; resident: '
      'median of the repeats.')
    w()
    w('| arch | loss | source | memory format | images/s | ms/step | '
      'peak GiB |')
    w('|---|---|---|---|---|---|---|')
    for row in rows:
        source = row['source']
        if source == 'loader':
            source += (f', {row["workers"]} workers, ' + (
                'cached' if row['cache_images'] else 'decoded every step'))
        peak = row.get('peak_mem_gib')
        w(f'| {row["arch"]} | {row["loss"]} | {source} | '
          f'{row["memory_format"]} | {_num(row["images_per_s"])} | '
          f'{_num(row["step_ms"])} | '
          f'{"" if peak is None else f"{peak:.1f}"} |')
    if record.get('skipped'):
        w()
        w(f'Skipped for the budget: {", ".join(record["skipped"])}.')
    pairs = record['lmf_vs_ce']
    if pairs:
        w()
        w('| arch | source | memory format | CE images/s | LMF images/s | '
          'LMF / CE |')
        w('|---|---|---|---|---|---|')
        for p in pairs:
            source = p['source'] + ('' if p['cache_images'] is None else
                                    ', cached' if p['cache_images'] else
                                    ', decoded')
            w(f'| {p["arch"]} | {source} | {p["memory_format"]} | '
              f'{_num(p["ce_images_per_s"])} | '
              f'{_num(p["lmf_images_per_s"])} | {p["ratio"]:.3f} |')


def _cv_section(w, record, settings):
    w(f'Folds done {record["folds_done"]}, failed {record["folds_failed"]}, '
      f'not started {record["folds_not_started"]}; slowest fold '
      f'{record["slowest_fold_s"]:.0f} s. Command (one call per fold, '
      f'`--run-folds k`):')
    w()
    w(f'    {record["command"]}')
    w()
    path = osp.join(osp.abspath(settings['out']), 'cv_results.md')
    if osp.isfile(path):
        with open(path, encoding='utf-8') as f:
            text = '\n' + f.read()
        w(text.replace('\n# ', '\n### ').replace('\n## ', '\n### ')
          .strip('\n'))
    else:
        w('No stored result.')


SECTION_WRITERS = dict(tests=_tests_section, losses=_losses_section,
                       throughput=_throughput_section, cv=_cv_section)


# ------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    bench = Benchmark(args)
    log(f'benchmark_gpu: parts {args.parts}, budget {args.budget_s:.0f} s, '
        f'device {args.device}, out {bench.out}')
    parts = TimedParts(args.budget_s, on_update=bench.write)
    budgets = dict(tests=args.tests_budget_s, losses=args.losses_budget_s,
                   throughput=args.throughput_budget_s, cv=None)
    final_reserve_s = 10.0
    for name in args.parts:
        later = [p for p in args.parts[args.parts.index(name) + 1:]]
        reserve = final_reserve_s + (60.0 if 'cv' in later else 0.0)
        parts.run(name, getattr(bench, name), budgets[name],
                  reserve_s=reserve, min_s=5.0)
    bench.write(parts.results)
    log(f'benchmark_gpu: done in {time.monotonic() - bench.start:.0f} s; '
        + ', '.join(f'{k} {v["status"]}' for k, v in parts.results.items())
        + f'; report {osp.join(bench.out, "report.md")}')
    return parts.results


if __name__ == '__main__':
    main()
