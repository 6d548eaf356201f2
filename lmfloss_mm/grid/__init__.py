"""Run a grid of configs x seeds with MMPretrain's own ``train.py`` /
``test.py``, restartably (``tools/run_grid.py``).

* :mod:`.spec`: which configs and seeds, and where each run goes;
* :mod:`.layout`: the files of a run folder and its state;
* :mod:`.launch`: ``train.py`` / ``test.py`` command lines and launchers;
* :mod:`.stages`: two-stage recipes, a second stage after its first stage
  and from its best checkpoint;
* :mod:`.runner`: running the grid with progress, one run after another;
* :mod:`.scheduler`: running up to K runs at once, each in its own slot
  (GPUs, master port, threads), every run in a :mod:`.worker` process.

Every finished run writes a :class:`lmfloss_mm.results.RunRecord`
(``metrics.json``); tables and figures are made by :mod:`lmfloss_mm.results`
(``tools/make_tables.py``, ``tools/plot_results.py``).
"""
from .launch import LaunchOptions, test_command, train_command
from .layout import run_state
from .runner import RunFailed, print_plan, run_grid, run_one
from .scheduler import (Slot, describe_slots, parse_devices, plan_slots,
                        run_parallel)
from .spec import RunSpec, build_grid, expand_config_args, select_configs
from .stages import FirstStageMissing, chain_stages, first_stage_of

__all__ = [
    'LaunchOptions', 'test_command', 'train_command', 'run_state',
    'RunFailed', 'print_plan', 'run_grid', 'run_one', 'Slot',
    'describe_slots', 'parse_devices', 'plan_slots', 'run_parallel',
    'RunSpec', 'build_grid', 'expand_config_args', 'select_configs',
    'FirstStageMissing', 'chain_stages', 'first_stage_of'
]
