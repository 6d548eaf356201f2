# ODIR-5K multi-label (8 labels N..O), one sample per patient, both eyes side
# by side (224x448), EfficientNetV2-S (ImageNet-1k init), the project's Adam
# recipe (lr 1e-4, wd 5e-4, StepLR 30 x0.1, 100 epochs, batch 32), no
# augmentation, best validation mAP kept.
# Asymmetric loss (Ridnik et al., ICCV 2021) as the ASL repository trains it:
# gamma_pos=0, gamma_neg=4, clip=0.05 and the focusing weight without gradient
# (its disable_torch_grad_focal_loss=True; MMPretrain's AsymmetricLoss
# differentiates through it). See docs/multilabel.md.
_base_ = [
    '../_base_/datasets/odir5k_multilabel_patient_bs32_224x448.py',
    './_base_/efficientnetv2-s_in1k-pre_multilabel.py',
    '../_base_/schedules/adam_steplr-30e_100e.py',
    './_base_/multilabel_patient_runtime.py',
]

model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='DetachableAsymmetricLoss',
            gamma_pos=0.0,
            gamma_neg=4.0,
            clip=0.05,
            eps=1e-8,
            detach_focusing_weight=True,
            loss_weight=1.0)))
