# The demo's config (tools/demo.py): the project's HAM10000 dataset class,
# split, runtime (SetClassCountsHook, ImbalancedClsMetric, best val macro-F1
# checkpoint) and Adam recipe, on a small synthetic HAM10000 at 32 px with a
# narrow ResNet-18 trained from scratch, so that it runs in minutes on a CPU.
# tools/demo.py swaps the loss for the one of the paper's LMF config.
_base_ = [
    '../_base_/datasets/ham10000_bs32_224.py',
    '../_base_/schedules/adam_steplr-30e_100e.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, base_channels=16,
                  out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=7, in_channels=128,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

image_size = 32
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

# Short on purpose: with longer training cross-entropy catches up on this toy
# (README, "The demo"); the base's LR step (epoch 30) is never reached.
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_epochs=5)
default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
