# ODIR-5K, ResNet-50; see docs/decoupled.md.
# cRT (Kang et al., ICLR 2020): the linear classifier is re-initialised and
# re-trained with cross-entropy and class-aware sampling (every class equally
# likely) on the frozen backbone (weights and BatchNorm statistics). Second
# stage: starts from the best checkpoint of
#   configs/odir5k/resnet50_in1k-pre_1xb32-ce-100e_odir5k.py
# given with --cfg-options load_from=<that checkpoint> (the run stops with an
# error naming that config otherwise). 10 epochs, Adam lr 1e-4 (wd 5e-4)
# cosine-annealed to 0, batch 32, backbone frozen.
_base_ = [
    '../_base_/datasets/odir5k_bs32_224.py',
    '../_base_/models/resnet50_frozen-backbone.py',
    '../_base_/schedules/adam_cosine-10e_frozen-backbone.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(head=dict(num_classes=8))

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
                     'resnet50_in1k-pre_1xb32-'
                     'ce-100e_odir5k.py'),
        reinit_head=True),
]
# BatchNorm is frozen (norm_eval), so there is nothing to synchronise across
# GPUs; plain BatchNorm keeps norm_eval effective (see the model base).
sync_bn = None
