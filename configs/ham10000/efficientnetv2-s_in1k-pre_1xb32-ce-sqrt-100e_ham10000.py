# HAM10000, EfficientNetV2-S (ImageNet-1k init), official LMF recipe
# (Adam 1e-4, StepLR 30 x0.1, 100 epochs, batch 32, 224 px, best val
# macro-F1 kept).
# Cross-entropy with square-root sampling: classes drawn with probability
# proportional to sqrt(n_c), then the next image of that class
# (len(dataset) draws an epoch).
_base_ = [
    '../_base_/datasets/ham10000_bs32_224.py',
    '../_base_/models/efficientnetv2-s_in1k-pre.py',
    '../_base_/schedules/adam_steplr-30e_100e.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(head=dict(num_classes=7))

train_dataloader = dict(
    sampler=dict(_delete_=True, type='SqrtSampler', shuffle=True))
