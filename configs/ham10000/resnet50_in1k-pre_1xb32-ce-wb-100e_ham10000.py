# HAM10000, ResNet-50; see docs/decoupled.md.
# Weight balancing, stage 1 (Alshammari et al., CVPR 2022): cross-entropy with
# a larger weight decay, 5e-3 (10x the recipe's 5e-4; the authors' tuned
# stage-1 value on CIFAR-100-LT, with SGD), which keeps the classifier's
# per-class weight norms balanced. The rest is the official LMF recipe (Adam lr
# 1e-4, StepLR 30 x0.1, 100 epochs, batch 32, best val macro-F1 kept).
_base_ = [
    '../_base_/datasets/ham10000_bs32_224.py',
    '../_base_/models/resnet50_in1k-pre.py',
    '../_base_/schedules/adam_steplr-30e_100e.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(head=dict(num_classes=7))

optim_wrapper = dict(optimizer=dict(weight_decay=5e-3))
