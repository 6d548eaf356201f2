# HAM10000, EfficientNetV2-S (ImageNet-1k init), official LMF recipe
# (Adam 1e-4, StepLR 30 x0.1, 100 epochs, batch 32, 224 px, best val
# macro-F1 kept).
# LMF with deferred re-weighting: the official LMF hyper-parameters
# (1.5 * LDAM + 1.0 * focal, gamma 1.5, max_m 0.5, s 30) without class
# weights for epochs 0-79, then class-balanced weights (beta 0.9999, sum C)
# on both terms from epoch index 80. The official LMF code has no DRW; it
# uses the margin vector as class weights throughout (the lmf config).
_base_ = [
    '../_base_/datasets/ham10000_bs32_224.py',
    '../_base_/models/efficientnetv2-s_in1k-pre.py',
    '../_base_/schedules/adam_steplr-30e_100e.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(
    head=dict(
        num_classes=7,
        loss=dict(
            _delete_=True,
            type='LMFLoss',
            cls_num_list='auto',
            ldam_weight=1.5,
            focal_weight=1.0,
            gamma=1.5,
            max_m=0.5,
            s=30.0,
            class_weight=None)))

custom_hooks = [
    dict(type='SetClassCountsHook'),
    dict(type='NonFiniteLossHook'),
    dict(type='CheckSplitOverlapHook'),
    dict(type='DependencyLogFilterHook'),
    dict(type='DeferredReweightingHook', start_epoch=80, beta=0.9999),
]
