# ISIC-2019, EfficientNetV2-S; see docs/decoupled.md.
# LWS (Kang et al., ICLR 2020): the stage-1 classifier is kept fixed and one
# scale per class, f_j (logit_j = f_j (w_j x + b_j), f = 1 at the start), is
# learned with cross-entropy and class-aware sampling on the frozen backbone.
# Second stage: starts from the best checkpoint of
#   configs/isic2019/efficientnetv2-s_in1k-pre_1xb32-ce-100e_isic2019.py
# given with --cfg-options load_from=<that checkpoint> (the run stops with an
# error naming that config otherwise). 10 epochs, Adam lr 1e-4 (wd 5e-4)
# cosine-annealed to 0, batch 32, backbone frozen.
_base_ = [
    '../_base_/datasets/isic2019_bs32_224.py',
    '../_base_/models/efficientnetv2-s_frozen-backbone.py',
    '../_base_/schedules/adam_cosine-10e_frozen-backbone.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(head=dict(type='LWSClsHead', num_classes=8))

train_dataloader = dict(
    sampler=dict(_delete_=True, type='ClassAwareSampler', shuffle=True))

custom_hooks = [
    dict(type='SetClassCountsHook'),
    dict(type='NonFiniteLossHook'),
    dict(type='CheckSplitOverlapHook'),
    dict(type='DependencyLogFilterHook'),
    dict(
        type='SecondStageHook',
        first_stage=('configs/isic2019/'
                     'efficientnetv2-s_in1k-pre_1xb32-'
                     'ce-100e_isic2019.py')),
]
# BatchNorm is frozen (norm_eval), so there is nothing to synchronise across
# GPUs; plain BatchNorm keeps norm_eval effective (see the model base).
sync_bn = None
