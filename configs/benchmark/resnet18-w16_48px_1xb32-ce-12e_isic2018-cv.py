# ISIC 2018 Task 3 test images, k-fold cross-validation
# (tools/benchmark_isic2018_cv.py), CPU preset. Inherits the paper config of
# this loss: HAM10000 dataset class and base, runtime (SetClassCountsHook,
# ImbalancedClsMetric, best val macro-F1 checkpoint), Adam, loss settings.
# The focal, LDAM and LMF configs of this preset inherit this one and change
# only the loss.
# Changes to fit a shared 2-core CPU: a narrow ResNet-18 (base_channels 16)
# trained from scratch at 48 px, lr 1e-3, 12 epochs with one x0.1 step after
# epoch 8, no data-loading workers (an epoch takes 7-25 s with one thread).
# The rest is the paper's recipe: batch 32, no augmentation, pixels scaled to
# [0, 1], weight decay 5e-4. The tool sets data_root and each fold's
# split_file.
_base_ = '../ham10000/resnet50_in1k-pre_1xb32-ce-100e_ham10000.py'
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        base_channels=16,
        out_indices=(3, )),
    head=dict(in_channels=128))

image_size = 48
_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size), backend='pillow',
         interpolation='bilinear'),
    dict(type='PackInputs'),
]
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(pipeline=_pipeline))
test_dataloader = dict(num_workers=0, persistent_workers=False,
                       dataset=dict(pipeline=_pipeline))

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = dict(step_size=8)
train_cfg = dict(max_epochs=12)
default_hooks = dict(logger=dict(interval=10))
