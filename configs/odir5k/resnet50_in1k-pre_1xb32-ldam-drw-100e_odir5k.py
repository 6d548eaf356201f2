# ODIR-5K, ResNet-50 (ImageNet-1k init), official LMF recipe
# (Adam 1e-4, StepLR 30 x0.1, 100 epochs, batch 32, 224 px, best val
# macro-F1 kept).
# LDAM-DRW (Cao et al., 2019): LDAM (max_m 0.5, s 30, as the LDAM config)
# without class weights for epochs 0-79, then class-balanced weights
# (1 - beta) / (1 - beta^n_j), beta 0.9999, normalised to sum to C, from epoch
# index 80 (the last 20%, as LDAM-DRW's 160 of 200). See docs/reweighting.md.
_base_ = [
    '../_base_/datasets/odir5k_bs32_224.py',
    '../_base_/models/resnet50_in1k-pre.py',
    '../_base_/schedules/adam_steplr-30e_100e.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(
    head=dict(
        num_classes=8,
        loss=dict(
            _delete_=True,
            type='LDAMLoss',
            cls_num_list='auto',
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
