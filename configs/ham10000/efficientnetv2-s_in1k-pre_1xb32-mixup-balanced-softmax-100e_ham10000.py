# HAM10000, EfficientNetV2-S; see docs/decoupled.md.
# Mixup (alpha 0.2) with Balanced Softmax (LogitAdjustedLoss, tau 1; "Bag of
# tricks for long-tailed visual recognition", Zhang et al., AAAI 2021, combine
# input mixup with Balanced Softmax). Predictions use the plain logits. The
# rest is the official LMF recipe (Adam lr 1e-4, wd 5e-4, StepLR 30 x0.1, 100
# epochs, batch 32, best val macro-F1 kept).
_base_ = [
    '../_base_/datasets/ham10000_bs32_224.py',
    '../_base_/models/efficientnetv2-s_in1k-pre.py',
    '../_base_/schedules/adam_steplr-30e_100e.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(
    head=dict(
        num_classes=7,
        loss=dict(
            _delete_=True,
            type='LogitAdjustedLoss',
            tau=1.0,
            cls_num_list='auto')),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.2)]))
