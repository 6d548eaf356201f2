# HAM10000, EfficientNetV2-S: LWS, second stage.
# The recipe is the last base; see docs/decoupled.md. The run starts from
# the best checkpoint of the first stage that SecondStageHook names, given
# with --cfg-options load_from=<that checkpoint>.
_base_ = [
    '../_base_/datasets/ham10000_bs32_224.py',
    '../_base_/models/efficientnetv2-s_frozen-backbone.py',
    '../_base_/second_stage/ce-lws-10e.py',
]

model = dict(head=dict(type='LWSClsHead', num_classes=7))

train_dataloader = dict(
    sampler=dict(_delete_=True, type='ClassAwareSampler', shuffle=True))

custom_hooks = _base_.custom_hooks + [
    dict(
        type='SecondStageHook',
        first_stage=('configs/ham10000/'
                     'efficientnetv2-s_in1k-pre_1xb32-'
                     'ce-100e_ham10000.py')),
]
