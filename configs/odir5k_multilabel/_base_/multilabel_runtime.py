# Runtime of the multi-label configs: MMPretrain's default runtime, the
# multi-label metrics, and the checkpoint with the best validation mAP kept,
# written atomically (AtomicCheckpointHook); training stops at the first
# NaN/Inf loss (NonFiniteLossHook), evaluation sets that share images with
# the training set are reported (CheckSplitOverlapHook), and the log lines
# carry scalars only (CompactLogProcessor), as in
# ../../_base_/imbalanced_runtime.py.
# Unlike ../../_base_/imbalanced_runtime.py there is no SetClassCountsHook and
# no ImbalancedClsMetric (both are single-label).
_base_ = 'mmpretrain::_base_/default_runtime.py'

# 'lmfloss_mm' registers the datasets and LoadEyePair; the second entry
# registers RobustAsymmetricLoss even where lmfloss_mm.models.losses does not
# import it (redundant otherwise).
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

# Keys (default prefix 'multi-label', no collision):
#   multi-label/mAP, multi-label/AP_classwise,
#   multi-label/{precision,recall,f1-score} (macro, threshold 0.5),
#   multi-label/{precision,recall,f1-score}_classwise.
# The scalar mAP comes first (CheckpointHook's save_best='auto' would use it).
val_evaluator = [
    dict(type='AveragePrecision', average='macro'),
    dict(type='AveragePrecision', average=None),
    dict(type='MultiLabelMetric', thr=0.5, average='macro'),
    dict(type='MultiLabelMetric', thr=0.5, average=None),
]
test_evaluator = val_evaluator

custom_hooks = [
    dict(type='NonFiniteLossHook'),
    # warns when the val/test sets share images (or patients' eyes) with the
    # training set
    dict(type='CheckSplitOverlapHook'),
    # hides MMEngine's own FileClient deprecation notices
    dict(type='DependencyLogFilterHook'),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=1,
        max_keep_ckpts=1,
        save_best='multi-label/mAP',
        rule='greater'))

# Evaluation log lines with scalars only (the class-wise lists stay in the
# test JSON log).
log_processor = dict(type='CompactLogProcessor')

# Distributed runs: SyncBatchNorm, as in ../../_base_/imbalanced_runtime.py.
sync_bn = 'torch'
