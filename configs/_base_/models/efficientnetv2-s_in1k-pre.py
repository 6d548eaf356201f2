# EfficientNetV2-S initialised from MMPretrain's ImageNet-1k weights
# (efficientnetv2-s_3rdparty_in1k, converted from timm, top-1 83.82), all
# layers fine-tuned, as the official LMF code does with torchvision's
# efficientnet_v2_s. MMPretrain ships these weights for inference only; the
# training schedule comes from this project's schedules/ base.
_base_ = 'mmpretrain::_base_/models/efficientnet_v2/efficientnetv2_s.py'

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'efficientnetv2/efficientnetv2-s_3rdparty_in1k_20221220-f0eaff9d.pth',
            prefix='backbone')),
    head=dict(topk=(1, )))
