"""Run the paper's grid (configs x seeds) and tabulate the results.

* :mod:`.spec`: config names, selection, labels, the runs of a grid;
* :mod:`.layout`: the files of a run folder, its state, checkpoints, test
  metrics;
* :mod:`.launch`: ``train.py`` / ``test.py`` command lines and launchers;
* :mod:`.grid`: running a grid restartably with progress;
* :mod:`.collect`: reading finished runs (``metrics.json``);
* :mod:`.tables`: Markdown / CSV tables;
* :mod:`.published`: the published numbers compared with.

The command-line front ends are ``tools/run_grid.py`` and
``tools/make_tables.py``.
"""
from .collect import RunResult, load_runs, metric_value
from .grid import RunFailed, print_plan, run_grid, run_one
from .launch import LaunchOptions, test_command, train_command
from .layout import (METRICS_FILE, PREDICTIONS_FILE, read_test_metrics,
                     run_state, select_checkpoint)
from .published import PUBLISHED, PublishedResult, published_value
from .spec import (RunSpec, build_grid, config_labels, expand_config_args,
                   parse_config_name, select_configs)
from .tables import make_report, summarize

__all__ = [
    'RunResult', 'load_runs', 'metric_value', 'RunFailed', 'print_plan',
    'run_grid', 'run_one', 'LaunchOptions', 'test_command', 'train_command',
    'METRICS_FILE', 'PREDICTIONS_FILE', 'read_test_metrics', 'run_state',
    'select_checkpoint', 'PUBLISHED', 'PublishedResult', 'published_value',
    'RunSpec', 'build_grid', 'config_labels', 'expand_config_args',
    'parse_config_name', 'select_configs', 'make_report', 'summarize'
]
