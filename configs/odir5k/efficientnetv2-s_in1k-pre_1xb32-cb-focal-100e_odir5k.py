# ODIR-5K, EfficientNetV2-S (ImageNet-1k init), official LMF recipe
# (Adam 1e-4, StepLR 30 x0.1, 100 epochs, batch 32, 224 px, best val
# macro-F1 kept).
# Class-balanced softmax focal loss (Cui et al., 2019): class weights
# (1 - beta) / (1 - beta^n_j), beta 0.9999, normalised to sum to C, focal
# gamma 1.5 (as the focal and LMF configs), mean over the batch.
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
            type='ClassBalancedLoss',
            beta=0.9999,
            gamma=1.5,
            cls_num_list='auto')))
