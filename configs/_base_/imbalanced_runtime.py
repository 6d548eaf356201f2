# Runtime shared by every lmfloss_mm config: MMPretrain's default runtime,
# class counts filled from the training set for every
# loss or metric built with cls_num_list='auto', the imbalance metrics, and
# the checkpoint with the best validation macro-F1 kept (as the official
# LMF code selects its model). Checkpoints are written atomically, so a run
# killed at any moment resumes (AtomicCheckpointHook), and training stops at
# the first NaN/Inf loss (NonFiniteLossHook).
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_hooks = [
    dict(type='SetClassCountsHook'),
    dict(type='NonFiniteLossHook'),
    # warns when the val/test sets share images with the training set
    dict(type='CheckSplitOverlapHook'),
    # hides MMEngine's own FileClient deprecation notices
    dict(type='DependencyLogFilterHook'),
]

val_evaluator = dict(type='ImbalancedClsMetric', cls_num_list='auto')
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=1,
        max_keep_ckpts=1,
        save_best='imbalanced/macro_f1',
        rule='greater'))

# Evaluation log lines with scalars only; ImbalancedClsMetric logs the
# per-class results as a table (the lists stay in the test JSON log).
log_processor = dict(type='CompactLogProcessor')

# Distributed runs (--launcher pytorch, run_grid.py --gpus N): BatchNorm layers
# become torch.nn.SyncBatchNorm, so every GPU keeps the same running
# statistics and validation scores the model that is saved. Single-process
# runs keep plain BatchNorm (MMEngine applies sync_bn only when distributed).
sync_bn = 'torch'
