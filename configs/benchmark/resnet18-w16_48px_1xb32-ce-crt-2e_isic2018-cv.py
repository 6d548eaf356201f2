# ISIC 2018 Task 3 test images, k-fold cross-validation
# (tools/benchmark_isic2018_cv.py), CPU preset: cRT, second stage (as
#   configs/ham10000/resnet50_in1k-pre_1xb32-ce-crt-10e_ham10000.py):
# the classifier is re-initialised and re-trained with cross-entropy and
# class-aware sampling on the frozen backbone of this preset's CE run of the
# same fold and seed; 2 epochs (see the base).
_base_ = './_base_/resnet18-w16_48px_second-stage-2e.py'

train_dataloader = dict(
    sampler=dict(_delete_=True, type='ClassAwareSampler', shuffle=True))

custom_hooks = _base_.custom_hooks + [
    dict(
        type='SecondStageHook',
        first_stage=('configs/benchmark/'
                     'resnet18-w16_48px_1xb32-ce-12e_isic2018-cv.py'),
        reinit_head=True),
]
