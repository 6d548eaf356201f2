# ODIR-5K multi-label (8 labels N..O), one sample per patient, both eyes side
# by side (224x448), ResNet-50 (ImageNet-1k init), the project's Adam recipe
# (lr 1e-4, wd 5e-4, StepLR 30 x0.1, 100 epochs, batch 32), no augmentation,
# best validation mAP kept.
# RobustAsymmetricLoss (Park et al., ICCV 2023 workshops) with the
# released code's defaults (kalelpark/RAL, Ralloss).
_base_ = [
    '../_base_/datasets/odir5k_multilabel_patient_bs32_224x448.py',
    './_base_/resnet50_in1k-pre_multilabel.py',
    '../_base_/schedules/adam_steplr-30e_100e.py',
    './_base_/multilabel_patient_runtime.py',
]

model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='RobustAsymmetricLoss',
            gamma_neg=4.0,
            gamma_pos=0.0,
            clip=0.05,
            eps=1e-8,
            lamb=1.5,
            epsilon_pos=1.0,
            epsilon_neg=0.0,
            epsilon_pos_pow=-2.5,
            loss_weight=1.0)))
