# Runtime shared by every lmfloss_mm config: MMPretrain's default runtime,
# class counts filled from the training set for every
# loss or metric built with cls_num_list='auto', the imbalance metrics, and
# the checkpoint with the best validation macro-F1 kept (as the official
# LMF code selects its model).
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_hooks = [dict(type='SetClassCountsHook')]

val_evaluator = dict(type='ImbalancedClsMetric', cls_num_list='auto')
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=1,
        save_best='imbalanced/macro_f1',
        rule='greater'))
