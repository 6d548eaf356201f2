"""Comparing the losses by training them (in this process):

* :mod:`.cross_validation`: the cross-validated benchmark on the ISIC 2018
  Task 3 test images (``tools/benchmark_isic2018_cv.py``), with its data
  root and folds (:mod:`.folds`) and its methods (:mod:`.methods`: which
  run starts from which, post-hoc logit adjustment);
* :mod:`.demo`: cross-entropy against LMF on generated data
  (``tools/demo.py``);
* :mod:`.in_process`: train, test and store one run's record;
* :mod:`.overrides`: config edits of benchmark runs (from scratch, mixed
  precision, loader options);
* :mod:`.gpu` (its parts and outputs) and :mod:`.gpu_report` (its
  ``report.md``), with :mod:`.throughput`, :mod:`.parts` and
  :mod:`.skip_probe`: the GPU benchmark (``tools/benchmark_gpu.py``).

Tables and statistics of the runs: :mod:`lmfloss_mm.results`.
"""
from .folds import (build_data_root, cv_assignment, split_file_path,
                    stratified_folds, validation_part, write_cv_split_files)
from .in_process import train_test_run

__all__ = [
    'build_data_root', 'cv_assignment', 'split_file_path',
    'stratified_folds', 'validation_part', 'write_cv_split_files',
    'train_test_run'
]
