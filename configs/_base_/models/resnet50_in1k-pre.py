# ResNet-50 initialised from MMPretrain's ImageNet-1k weights (top-1 76.55),
# all layers fine-tuned, as the official LMF code does with torchvision's
# ImageNet ResNet-50. The head's num_classes and loss are set by each config.
_base_ = 'mmpretrain::_base_/models/resnet50.py'

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            prefix='backbone')),
    head=dict(topk=(1, )))
