# ODIR-5K, EfficientNetV2-S (ImageNet-1k init), official LMF recipe
# (Adam 1e-4, StepLR 30 x0.1, 100 epochs, batch 32, 224 px, best val
# macro-F1 kept).
# Balanced Softmax = logit-adjusted loss with tau 1 (Ren et al., 2020; Menon
# et al., 2021): cross-entropy on z + log(prior); predictions use the plain
# logits z.
_base_ = [
    '../_base_/datasets/odir5k_bs32_224.py',
    '../_base_/models/efficientnetv2-s_in1k-pre.py',
    '../_base_/schedules/adam_steplr-30e_100e.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(
    head=dict(
        num_classes=8,
        loss=dict(
            _delete_=True,
            type='LogitAdjustedLoss',
            tau=1.0,
            cls_num_list='auto')))
