"""Figures and class statistics of the insight tools
(``tools/dataset_stats.py``, ``tools/plot_results.py``).

Not imported by ``import lmfloss_mm``: it needs matplotlib, which training
does not.  Figures are built on the Agg canvas, never with ``pyplot``.  The
numbers they show come from :mod:`lmfloss_mm.results` and
:mod:`lmfloss_mm.evaluation.functional`.
"""
from .class_stats import (DEFAULT_MAX_M, ClassStats, collect_config_counts,
                          compute_class_stats, config_loss_info,
                          format_table, imbalance_ratio, write_csv,
                          write_markdown)
from .figures import (plot_class_counts, plot_confusion_matrix,
                      plot_per_class_f1, plot_reliability_diagram,
                      row_normalise, save_figure)
from .forest import forest_order, plot_paired_forest, plot_runs_forest

__all__ = [
    'DEFAULT_MAX_M', 'ClassStats', 'collect_config_counts',
    'compute_class_stats', 'config_loss_info', 'format_table',
    'imbalance_ratio', 'write_csv', 'write_markdown', 'plot_class_counts',
    'plot_confusion_matrix', 'plot_per_class_f1', 'plot_reliability_diagram',
    'row_normalise', 'save_figure', 'forest_order', 'plot_paired_forest',
    'plot_runs_forest'
]
