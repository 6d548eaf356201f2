"""Results: run records, reading them, statistics, tables and reports.

* :mod:`.record`: :class:`RunRecord`, one trained-and-tested model (a grid
  run, a cross-validation fold, a plain work folder) and its stored form;
* :mod:`.reader`: :func:`load_runs` finds and reads every run below some
  folders, whatever wrote them; :mod:`.work_dir` reads plain MMEngine work
  folders;
* :mod:`.labels`: labels and display order of datasets, backbones, losses;
* :mod:`.stats`: mean ± std and paired differences with t-intervals;
* :mod:`.tables`: the table renderer (Markdown, CSV);
* :mod:`.summary`: the paper-layout report (``tools/make_tables.py``);
* :mod:`.paired`: the paired report against a reference loss (the
  cross-validation report, ``make_tables.py --paired``);
* :mod:`.predictions`: per-class F1, confusion matrices and predictions
  aggregated over runs for the figures (``tools/plot_results.py``);
* :mod:`.published`: the published numbers compared with.

Nothing here trains, evaluates or executes stored files: records are JSON,
configs dumped by MMEngine are parsed, not run.
"""
from .labels import (LOSS_ORDER, config_labels, display, ordered,
                     parse_config_name)
from .paired import paired_report
from .published import PUBLISHED, PublishedResult, published_value
from .reader import load_runs
from .record import RECORD_FILE, SCHEMA_VERSION, RunRecord, metric_value
from .stats import (MeanStd, PairedDiff, format_mean_std, format_paired,
                    mean_std, paired_difference)
from .summary import make_report
from .tables import Table, markdown_table
from .work_dir import read_test_metrics, read_work_dir

__all__ = [
    'LOSS_ORDER', 'config_labels', 'display', 'ordered', 'parse_config_name',
    'paired_report', 'PUBLISHED', 'PublishedResult', 'published_value',
    'load_runs', 'RECORD_FILE', 'SCHEMA_VERSION', 'RunRecord',
    'metric_value', 'MeanStd', 'PairedDiff', 'format_mean_std',
    'format_paired', 'mean_std', 'paired_difference', 'make_report',
    'Table', 'markdown_table', 'read_test_metrics', 'read_work_dir'
]
