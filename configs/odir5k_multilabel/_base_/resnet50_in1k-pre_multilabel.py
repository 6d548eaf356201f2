# ResNet-50 (ImageNet-1k init, ../../_base_/models/resnet50_in1k-pre.py)
# with a multi-label head: a linear layer with 8 sigmoid outputs (N..O), a
# label is predicted when its score is >= 0.5.  The single-label head
# (LinearClsHead, topk) is deleted.  The loss defaults to binary
# cross-entropy; every config sets its own.
_base_ = '../../_base_/models/resnet50_in1k-pre.py'

model = dict(
    head=dict(
        _delete_=True,
        type='MultiLabelLinearClsHead',
        num_classes=8,
        in_channels=2048,
        thr=0.5,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True,
                  loss_weight=1.0)))
