"""Train and test a grid of configs x seeds, one run after another or up to
K runs at once (``--parallel K``).

Each run goes to ``<work-root>/<config-stem>/seed-<s>/``: MMPretrain's
``train.py`` with ``randomness.seed=<s>``, then ``test.py`` on the best
validation checkpoint (``best_imbalanced_macro_f1_*.pth``, else the last)
with ``--out predictions.pkl``, then ``metrics.json`` (the finished
marker). Runs with a ``metrics.json`` are skipped, so the same command
continues an interrupted grid; an unfinished run resumes training from its
last checkpoint. A failing run is reported and the grid goes on; the exit
code is 1 if any run failed.

Two-stage recipes chain: a second-stage config (``SecondStageHook``, e.g.
``*-ce-crt-10e_*`` after ``*-ce-100e_*``) runs after its first stage with
the same seed, from that run's best checkpoint (``--cfg-options
load_from=<work-root>/<first-stage>/seed-<s>/best_*.pth``); a first stage
the grid lacks is added (and said so). With ``--parallel K`` a second stage
waits for its first stage only; it fails, naming the first-stage run, when
that run failed.

Examples::

    # the paper grid (24 configs) with three seeds
    python tools/run_grid.py --datasets ham10000 isic2019 odir5k \\
        --backbones resnet50 efficientnetv2-s --losses ce focal ldam lmf \\
        --seeds 0 1 2 --work-root work_dirs/grid
    # a subset, explicit configs, a quick check, the plan only
    python tools/run_grid.py configs/odir5k/*-lmf-100e_odir5k.py --seeds 0 \\
        --cfg-options train_cfg.max_epochs=1 --dry-run
    # 4 GPUs per run
    python tools/run_grid.py --datasets odir5k --launcher pytorch --gpus 4
    # 8 runs at once on an 8-GPU machine, one GPU each
    python tools/run_grid.py --datasets odir5k --seeds 0 1 2 --parallel 8
    # Slurm: 16 runs at once, each its own srun (1 GPU)
    python tools/run_grid.py --datasets odir5k --launcher slurm \\
        --partition gpu --parallel 16
    # cRT: runs the ce-100e config first (added), then cRT from its best
    python tools/run_grid.py \\
        configs/ham10000/resnet50_in1k-pre_1xb32-ce-crt-10e_ham10000.py
"""
import argparse
import os
import os.path as osp
import sys

from lmfloss_mm.grid import (LaunchOptions, build_grid, chain_stages,
                             describe_slots, expand_config_args,
                             parse_devices, plan_slots, print_plan, run_grid,
                             run_parallel, select_configs)
from lmfloss_mm.runner.train_test import parse_cfg_options

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train and test a grid of configs x seeds, restartably.')
    parser.add_argument(
        'configs', nargs='*', metavar='CONFIG',
        help='config files, globs or folders (added to the --datasets / '
        '--backbones / --losses selection)')
    select = parser.add_argument_group(
        'selection from the config folder (any of these selects; an '
        'omitted one means all values)')
    select.add_argument('--datasets', nargs='+', metavar='DATASET',
                        help='e.g. ham10000 isic2019 odir5k')
    select.add_argument('--backbones', nargs='+', metavar='BACKBONE',
                        help='e.g. resnet50 efficientnetv2-s')
    select.add_argument('--losses', nargs='+', metavar='LOSS',
                        help='e.g. ce focal ldam lmf (the loss field of the '
                        'config name)')
    select.add_argument(
        '--config-dir', default=osp.join(REPO, 'configs'),
        help='folder of <dataset>/<config>.py (default: the repository\'s '
        'configs/)')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0],
                        help='seeds of every config (default: 0)')
    parser.add_argument('--work-root', default='work_dirs/grid',
                        help='runs go to <work-root>/<config-stem>/seed-<s>')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='passed to train.py and test.py unchanged (data roots, '
        'train_cfg.max_epochs=1, ...); not randomness.seed or work_dir')
    dist = parser.add_argument_group('distributed runs')
    dist.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                      default='none', help='MMEngine launcher')
    dist.add_argument('--gpus', type=int, default=1,
                      help='processes (GPUs) per run')
    dist.add_argument('--port', type=int, default=None,
                      help='master port of --launcher pytorch (default: '
                      '$PORT or 29500)')
    dist.add_argument('--partition', help='slurm partition (srun -p)')
    dist.add_argument('--gpus-per-node', type=int,
                      help='slurm: GPUs per node (default: min(gpus, 8))')
    dist.add_argument('--cpus-per-task', type=int, default=5,
                      help='slurm: CPUs per task (default: 5)')
    dist.add_argument('--srun-args', default='',
                      help='slurm: extra srun arguments, one string')
    parallel = parser.add_argument_group('parallel runs')
    parallel.add_argument(
        '--parallel', '--jobs', '-j', type=int, default=1, metavar='K',
        help='runs at once (default 1: one after another). On this machine '
        'each run gets --gpus GPUs of its own (CUDA_VISIBLE_DEVICES), its '
        'own master port (--port + slot) and cores/K threads; with '
        '--launcher slurm each run is its own srun')
    parallel.add_argument(
        '--devices', metavar='LIST',
        help='GPUs to share out, comma-separated, e.g. 0,1,2,3 (default: '
        'those in CUDA_VISIBLE_DEVICES, else all GPUs torch sees)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (train.py / test.py --amp)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the plan and the commands, run nothing')
    parser.add_argument('--verbose', action='store_true',
                        help='echo the training/test output (it always '
                        'goes to train.log / test.log in the run folder); '
                        'not with --parallel')
    return parser.parse_args(argv)


def _short(path):
    """``path`` relative to the current folder when it lies below it."""
    rel = osp.relpath(path)
    return path if rel.startswith('..') else rel


def collect_configs(args):
    """Positional configs, then the selection from --config-dir."""
    configs = expand_config_args(args.configs)
    if args.datasets or args.backbones or args.losses:
        selected = select_configs(args.config_dir, args.datasets,
                                  args.backbones, args.losses)
        if not selected:
            raise FileNotFoundError(
                f'no config in {args.config_dir} matches datasets='
                f'{args.datasets} backbones={args.backbones} '
                f'losses={args.losses}')
        configs += [_short(c) for c in selected if _short(c) not in configs]
    if not configs:
        raise ValueError('no config given: pass config paths or '
                         '--datasets / --backbones / --losses')
    return configs


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        configs, first_stages, added = chain_stages(collect_configs(args))
        if first_stages and 'load_from' in parse_cfg_options(
                args.cfg_options):
            raise ValueError(
                'load_from is set by the grid for its second-stage configs '
                '(the best checkpoint of their first stage); remove it from '
                '--cfg-options')
        specs = build_grid(configs, args.seeds, args.work_root,
                           first_stages)
        opts = LaunchOptions(
            launcher=args.launcher, gpus=args.gpus,
            partition=args.partition, gpus_per_node=args.gpus_per_node,
            cpus_per_task=args.cpus_per_task, srun_args=args.srun_args,
            amp=args.amp, cfg_options=list(args.cfg_options),
            **({} if args.port is None else dict(port=args.port)))
        slots = plan_slots(
            args.parallel, opts,
            None if args.devices is None else parse_devices(args.devices))
        if args.verbose and args.parallel > 1:
            raise ValueError(
                '--verbose needs --parallel 1: parallel runs write their '
                'output only to the logs in their run folders')
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    for first, second in added:
        print(f'Added {_short(first)}: the first stage of {_short(second)}')
    show_slots = args.parallel > 1 or args.devices is not None
    if args.dry_run:
        if show_slots:
            print(describe_slots(slots, opts.launcher))
        return 1 if print_plan(specs, opts,
                               slots=slots if show_slots else None) else 0
    try:
        if args.parallel > 1:
            failed = run_parallel(specs, opts, slots)
        else:
            os.environ.update(slots[0].env)  # --devices of a single run
            failed = run_grid(specs, opts, verbose=args.verbose)
    except KeyboardInterrupt:
        return 130
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
