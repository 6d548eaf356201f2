# HAM10000, ResNet-50; see docs/decoupled.md.
# Weight balancing, stage 2 (Alshammari et al., CVPR 2022): the stage-1
# classifier is fine-tuned with the class-balanced loss (effective number, beta
# 0.9999), weight decay 5e-3 and the MaxNorm constraint: after every step each
# class's weight vector is projected into the ball of radius min + 0.1 (max -
# min) of the initial row norms (the authors' thresh=0.1). Second stage: starts
# from the best checkpoint of
#   configs/ham10000/resnet50_in1k-pre_1xb32-ce-wb-100e_ham10000.py
# given with --cfg-options load_from=<that checkpoint> (the run stops with an
# error naming that config otherwise). 10 epochs, Adam lr 1e-4 (wd 5e-4)
# cosine-annealed to 0, batch 32, backbone frozen.
_base_ = [
    '../_base_/datasets/ham10000_bs32_224.py',
    '../_base_/models/resnet50_frozen-backbone.py',
    '../_base_/schedules/adam_cosine-10e_frozen-backbone.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(
    head=dict(
        num_classes=7,
        loss=dict(
            _delete_=True,
            type='ClassBalancedLoss',
            beta=0.9999,
            gamma=0.0,
            cls_num_list='auto')))

optim_wrapper = dict(optimizer=dict(weight_decay=5e-3))

custom_hooks = [
    dict(type='SetClassCountsHook'),
    dict(type='NonFiniteLossHook'),
    dict(type='CheckSplitOverlapHook'),
    dict(type='DependencyLogFilterHook'),
    dict(
        type='SecondStageHook',
        first_stage=('configs/ham10000/'
                     'resnet50_in1k-pre_1xb32-'
                     'ce-wb-100e_ham10000.py')),
    dict(type='MaxNormHook', thresh=0.1),
]
# BatchNorm is frozen (norm_eval), so there is nothing to synchronise across
# GPUs; plain BatchNorm keeps norm_eval effective (see the model base).
sync_bn = None
