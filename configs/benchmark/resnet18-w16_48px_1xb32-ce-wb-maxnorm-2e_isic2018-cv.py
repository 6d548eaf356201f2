# ISIC 2018 Task 3 test images, k-fold cross-validation
# (tools/benchmark_isic2018_cv.py), CPU preset: weight balancing, second
# stage (as configs/ham10000/resnet50_in1k-pre_1xb32-ce-wb-maxnorm-10e_
# ham10000.py): the classifier of this preset's ce-wb run (stage 1, weight
# decay 5e-3) of the same fold and seed is fine-tuned with the class-balanced
# loss (beta 0.9999, no focal term), weight decay 5e-3 and the MaxNorm
# constraint (thresh 0.1) on the frozen backbone; 2 epochs (see the base).
_base_ = './_base_/resnet18-w16_48px_second-stage-2e.py'

model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='ClassBalancedLoss',
            beta=0.9999,
            gamma=0.0,
            cls_num_list='auto')))

optim_wrapper = dict(optimizer=dict(weight_decay=5e-3))

custom_hooks = _base_.custom_hooks + [
    dict(
        type='SecondStageHook',
        first_stage=('configs/benchmark/'
                     'resnet18-w16_48px_1xb32-ce-wb-12e_isic2018-cv.py')),
    dict(type='MaxNormHook', thresh=0.1),
]
