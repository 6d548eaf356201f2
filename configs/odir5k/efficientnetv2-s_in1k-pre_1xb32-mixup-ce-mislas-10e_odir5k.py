# ODIR-5K, EfficientNetV2-S; see docs/decoupled.md.
# MiSLAS, stage 2 (Zhong et al., CVPR 2021): label-aware smoothing (eps 0.3 for
# the most frequent class down to 0 for the rarest, concave; the authors'
# values for CIFAR-10-LT and ImageNet-LT), a learnable scale per class (LWS)
# trained at the full learning rate and the stage-1 classifier fine-tuned at
# 0.05x, with class-aware sampling. The backbone weights are frozen (lr_mult=0)
# but its BatchNorm layers stay in training mode, so their running statistics
# follow the re-sampled data (MiSLAS' "shift learning on BN"). Second stage:
# starts from the best checkpoint of
#   configs/odir5k/efficientnetv2-s_in1k-pre_1xb32-mixup-ce-100e_odir5k.py
# given with --cfg-options load_from=<that checkpoint>. 10 epochs, Adam lr 1e-4
# (wd 5e-4) cosine-annealed to 0, batch 32.
_base_ = [
    '../_base_/datasets/odir5k_bs32_224.py',
    '../_base_/models/efficientnetv2-s_frozen-backbone.py',
    '../_base_/schedules/adam_cosine-10e_frozen-backbone.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(norm_eval=False),
    head=dict(
        type='LWSClsHead',
        num_classes=8,
        freeze_classifier=False,
        loss=dict(
            _delete_=True,
            type='LabelAwareSmoothingLoss',
            eps_head=0.3,
            eps_tail=0.0,
            shape='concave',
            cls_num_list='auto')))

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'head.fc': dict(lr_mult=0.05)}))

train_dataloader = dict(
    sampler=dict(_delete_=True, type='ClassAwareSampler', shuffle=True))

custom_hooks = [
    dict(type='SetClassCountsHook'),
    dict(type='NonFiniteLossHook'),
    dict(type='CheckSplitOverlapHook'),
    dict(type='DependencyLogFilterHook'),
    dict(
        type='SecondStageHook',
        first_stage=('configs/odir5k/'
                     'efficientnetv2-s_in1k-pre_1xb32-'
                     'mixup-ce-100e_odir5k.py')),
]
