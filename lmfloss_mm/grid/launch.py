"""Command lines of MMPretrain's ``train.py`` / ``test.py`` for one run, with
MMEngine's launchers, and running them with their output kept in a log.

The scripts are the ones ``mim train/test mmpretrain`` run:
``<site-packages>/mmpretrain/.mim/tools/{train,test}.py``.

* ``launcher='none'``: ``python train.py CONFIG ...`` (one process);
* ``launcher='pytorch'``: ``python -m torch.distributed.run
  --nproc_per_node=GPUS --master_port=PORT train.py CONFIG ... --launcher
  pytorch``, as MMPretrain's ``dist_train.sh`` (``NNODES``, ``NODE_RANK``,
  ``MASTER_ADDR`` are read from the environment like there);
* ``launcher='slurm'``: ``srun -p PARTITION --job-name=... --gres=gpu:G
  --ntasks=GPUS --ntasks-per-node=G --cpus-per-task=C --kill-on-bad-exit=1
  [SRUN_ARGS] python -u train.py CONFIG ... --launcher slurm``, as
  ``slurm_train.sh`` and ``mim train --launcher slurm``.
"""
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, TextIO, Tuple

from lmfloss_mm.runner.train_test import parse_cfg_options
from .layout import PREDICTIONS_FILE, TEST_DIR
from .spec import RunSpec

LAUNCHERS = ('none', 'pytorch', 'slurm')


def mmpretrain_tool(name: str) -> str:
    """Path of ``mmpretrain/.mim/tools/<name>`` in the installed package."""
    from mmengine.utils import get_installed_path
    path = osp.join(get_installed_path('mmpretrain'), '.mim', 'tools', name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: is mmpretrain installed with its .mim tools?')
    return path


@dataclass
class LaunchOptions:
    """How the training and test scripts are started."""
    launcher: str = 'none'
    gpus: int = 1
    port: int = field(
        default_factory=lambda: int(os.environ.get('PORT', 29500)))
    partition: Optional[str] = None
    gpus_per_node: Optional[int] = None
    cpus_per_task: int = 5
    srun_args: str = ''
    amp: bool = False
    cfg_options: List[str] = field(default_factory=list)
    train_script: Optional[str] = None
    test_script: Optional[str] = None
    python: str = sys.executable

    def __post_init__(self):
        if self.launcher not in LAUNCHERS:
            raise ValueError(f'launcher must be one of {LAUNCHERS}, got '
                             f'{self.launcher!r}')
        if self.gpus < 1:
            raise ValueError(f'--gpus must be >= 1, got {self.gpus}')
        if self.launcher == 'none' and self.gpus > 1:
            raise ValueError(f'--gpus {self.gpus} needs --launcher pytorch '
                             'or slurm')
        for key in parse_cfg_options(self.cfg_options):
            if key == 'work_dir':
                raise ValueError('work_dir is set by the grid runner '
                                 '(<work-root>/<config-stem>/seed-<s>); use '
                                 '--work-root')
            if key == 'randomness' or key.startswith('randomness.seed'):
                raise ValueError('the seed is set by the grid runner; use '
                                 '--seeds')
        self.train_script = self.train_script or mmpretrain_tool('train.py')
        self.test_script = self.test_script or mmpretrain_tool('test.py')


def launch_prefix(opts: LaunchOptions, script: str,
                  job_name: str) -> List[str]:
    """Everything before the script's own arguments."""
    if opts.launcher == 'pytorch':
        return [
            opts.python, '-m', 'torch.distributed.run',
            f'--nnodes={os.environ.get("NNODES", 1)}',
            f'--node_rank={os.environ.get("NODE_RANK", 0)}',
            f'--master_addr={os.environ.get("MASTER_ADDR", "127.0.0.1")}',
            f'--nproc_per_node={opts.gpus}', f'--master_port={opts.port}',
            script
        ]
    if opts.launcher == 'slurm':
        per_node = opts.gpus_per_node or min(opts.gpus, 8)
        cmd = ['srun']
        if opts.partition:
            cmd += ['-p', opts.partition]
        return cmd + [
            f'--job-name={job_name}', f'--gres=gpu:{per_node}',
            f'--ntasks={opts.gpus}', f'--ntasks-per-node={per_node}',
            f'--cpus-per-task={opts.cpus_per_task}', '--kill-on-bad-exit=1'
        ] + shlex.split(opts.srun_args) + [opts.python, '-u', script]
    return [opts.python, script]


def _common_args(spec: RunSpec, opts: LaunchOptions,
                 extra_options: Sequence[str] = ()) -> List[str]:
    args = ['--launcher', opts.launcher]
    if opts.amp:
        args.append('--amp')
    return args + ['--cfg-options', *opts.cfg_options, *extra_options,
                   f'randomness.seed={spec.seed}']


def train_command(spec: RunSpec, opts: LaunchOptions,
                  resume: Optional[str] = None,
                  load_from: Optional[str] = None) -> List[str]:
    """``train.py CONFIG --work-dir RUN_DIR [--resume CKPT] ...
    --cfg-options ... [load_from=CKPT] randomness.seed=S``.

    Args:
        resume (str, optional): The checkpoint to resume from (model,
            optimizer, scheduler, epoch, seed).
        load_from (str, optional): The checkpoint a second stage starts
            from (its first stage's best checkpoint). Not passed with
            ``resume``: ``train.py`` merges ``--cfg-options`` after
            ``--resume``, so it would replace the checkpoint resumed from.
    """
    cmd = launch_prefix(opts, opts.train_script,
                        f'{spec.stem}-seed{spec.seed}-train')
    cmd += [spec.config, '--work-dir', spec.run_dir]
    if resume:
        cmd += ['--resume', resume]
    extra = [f'load_from={load_from}'] if load_from and not resume else []
    return cmd + _common_args(spec, opts, extra)


def test_command(spec: RunSpec, opts: LaunchOptions,
                 checkpoint: str) -> List[str]:
    """``test.py CONFIG CHECKPOINT --work-dir RUN_DIR/test --out
    RUN_DIR/predictions.pkl ... --cfg-options ... randomness.seed=S``."""
    cmd = launch_prefix(opts, opts.test_script,
                        f'{spec.stem}-seed{spec.seed}-test')
    cmd += [
        spec.config, checkpoint, '--work-dir',
        osp.join(spec.run_dir, TEST_DIR), '--out',
        osp.join(spec.run_dir, PREDICTIONS_FILE)
    ]
    return cmd + _common_args(spec, opts)


def open_log(log_path: str, cmd: Sequence[str]) -> Tuple[TextIO, int]:
    """Open ``log_path`` for appending (its folder is created) and write the
    ``=====`` line of ``cmd``: the time and the command.

    Returns ``(file, offset)``; the offset is where the command's output
    starts in the log."""
    os.makedirs(osp.dirname(osp.abspath(log_path)), exist_ok=True)
    log = open(log_path, 'a')
    log.write(f'\n===== {time.strftime("%Y-%m-%d %H:%M:%S")} '
              f'{shlex.join(cmd)}\n')
    log.flush()
    return log, os.path.getsize(log_path)


def execute(cmd: Sequence[str], log_path: str,
            verbose: bool = False) -> Tuple[int, float, int]:
    """Run ``cmd``, appending its stdout and stderr to ``log_path`` (and
    echoing them when ``verbose``).

    Returns ``(return code, seconds, log offset)``; the offset is where this
    attempt's output starts in the log. A ``KeyboardInterrupt`` stops the
    command before it propagates.
    """
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    start = time.time()
    log, offset = open_log(log_path, cmd)
    with log:
        proc = subprocess.Popen(
            list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors='replace', env=env)
        try:
            for line in proc.stdout:
                log.write(line)
                if verbose:
                    sys.stdout.write(line)
                    sys.stdout.flush()
            proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
    return proc.returncode, time.time() - start, offset


def log_tail(log_path: str, offset: int = 0, lines: int = 15) -> str:
    """The last ``lines`` lines written to ``log_path`` after ``offset``."""
    try:
        with open(log_path, 'rb') as f:
            f.seek(offset)
            text = f.read().decode(errors='replace')
    except OSError:
        return ''
    return '\n'.join(text.rstrip('\n').splitlines()[-lines:])
