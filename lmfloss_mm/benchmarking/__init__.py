"""Helpers of the real-data benchmark (``tools/benchmark_isic2018_cv.py``):
the ISIC 2018 Task 3 data root and cross-validation folds
(:mod:`.folds`), statistics (:mod:`.stats`) and the report
(:mod:`.report`)."""
from .folds import (build_data_root, cv_assignment, split_counts,
                    split_file_path, stratified_folds, validation_part,
                    write_cv_split_files)
from .report import (format_report, records_to_csv, records_to_jsonl,
                     summary_table)
from .stats import (mean_std, paired_difference, t_cdf, t_quantile)

__all__ = [
    'build_data_root', 'cv_assignment', 'split_counts', 'split_file_path',
    'stratified_folds', 'validation_part', 'write_cv_split_files',
    'format_report', 'records_to_csv', 'records_to_jsonl', 'summary_table',
    'mean_std', 'paired_difference', 't_cdf', 't_quantile'
]
