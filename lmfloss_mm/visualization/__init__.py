"""Statistics and figures of the insight tools (``tools/dataset_stats.py``,
``tools/plot_results.py``).

Not imported by ``import lmfloss_mm``: it needs matplotlib, which training
does not.  Figures are built on the Agg canvas, never with ``pyplot``.
"""
from .class_stats import (DEFAULT_MAX_M, SHOT_THRESHOLDS, SPLIT_NAMES,
                          ClassStats, collect_config_counts,
                          compute_class_stats, config_loss_info,
                          count_dataset_labels, format_table, imbalance_ratio,
                          shot_group, write_csv, write_markdown)
from .figures import (plot_class_counts, plot_confusion_matrix,
                      plot_per_class_f1, plot_reliability_diagram,
                      save_figure)
from .results import (LOSS_ORDER, Run, calibration_error, find_runs,
                      load_predictions, per_class_f1_table,
                      pooled_predictions, reliability_bins, row_normalise,
                      summed_confusion, top1_confidence)

__all__ = [
    'DEFAULT_MAX_M', 'SHOT_THRESHOLDS', 'SPLIT_NAMES', 'ClassStats',
    'collect_config_counts', 'compute_class_stats', 'config_loss_info',
    'count_dataset_labels', 'format_table', 'imbalance_ratio', 'shot_group',
    'write_csv', 'write_markdown', 'plot_class_counts',
    'plot_confusion_matrix', 'plot_per_class_f1', 'plot_reliability_diagram',
    'save_figure', 'LOSS_ORDER', 'Run', 'calibration_error', 'find_runs',
    'load_predictions', 'per_class_f1_table', 'pooled_predictions',
    'reliability_bins', 'row_normalise', 'summed_confusion', 'top1_confidence'
]
