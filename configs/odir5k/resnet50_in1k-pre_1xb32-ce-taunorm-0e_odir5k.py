# ODIR-5K, ResNet-50; see docs/decoupled.md.
# tau-normalisation (Kang et al., ICLR 2020): no training. The stage-1
# classifier's weight vectors are divided by their norm to the power tau (bias
# dropped); TauNormSweepLoop validates tau = 0, 0.1, ..., 1 and keeps the best
# validation macro-F1 (its checkpoint, with head.tau, is the best checkpoint of
# the run). Starts from the best checkpoint of
#   configs/odir5k/resnet50_in1k-pre_1xb32-ce-100e_odir5k.py
# given with --cfg-options load_from=<that checkpoint>.
_base_ = [
    '../_base_/datasets/odir5k_bs32_224.py',
    '../_base_/models/resnet50_frozen-backbone.py',
    '../_base_/schedules/adam_cosine-10e_frozen-backbone.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(head=dict(type='TauNormClsHead', num_classes=8))

train_cfg = dict(_delete_=True, type='TauNormSweepLoop')

custom_hooks = [
    dict(type='SetClassCountsHook'),
    dict(type='NonFiniteLossHook'),
    dict(type='CheckSplitOverlapHook'),
    dict(type='DependencyLogFilterHook'),
    dict(
        type='SecondStageHook',
        first_stage=('configs/odir5k/'
                     'resnet50_in1k-pre_1xb32-'
                     'ce-100e_odir5k.py')),
]
# BatchNorm is frozen (norm_eval), so there is nothing to synchronise across
# GPUs; plain BatchNorm keeps norm_eval effective (see the model base).
sync_bn = None
