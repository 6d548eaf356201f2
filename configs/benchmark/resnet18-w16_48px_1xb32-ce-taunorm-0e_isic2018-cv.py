# ISIC 2018 Task 3 test images, k-fold cross-validation
# (tools/benchmark_isic2018_cv.py), CPU preset: tau-normalisation (as
#   configs/ham10000/resnet50_in1k-pre_1xb32-ce-taunorm-0e_ham10000.py):
# no training; the classifier of this preset's CE run of the same fold and
# seed is divided by its row norms to the power tau, and TauNormSweepLoop
# keeps the tau in 0, 0.1, ..., 1 with the best validation macro-F1.
_base_ = './_base_/resnet18-w16_48px_second-stage-2e.py'

model = dict(head=dict(type='TauNormClsHead'))

train_cfg = dict(_delete_=True, type='TauNormSweepLoop')

custom_hooks = _base_.custom_hooks + [
    dict(
        type='SecondStageHook',
        first_stage=('configs/benchmark/'
                     'resnet18-w16_48px_1xb32-ce-12e_isic2018-cv.py')),
]
