# ISIC 2018 Task 3 test images, k-fold cross-validation
# (tools/benchmark_isic2018_cv.py), CPU preset with LDAM-DRW: the LDAM config of
# this preset without class weights, and deferred re-weighting as in
#   configs/ham10000/resnet50_in1k-pre_1xb32-ldam-drw-100e_ham10000.py
# (class-balanced weights, beta 0.9999). There the re-weighting starts at
# epoch index 80 of 100; scaled like the StepLR step (round(80 * 12 / 100) =
# 10), the last 2 of the 12 epochs are re-weighted here.
_base_ = './resnet18-w16_48px_1xb32-ldam-12e_isic2018-cv.py'

model = dict(head=dict(loss=dict(class_weight=None)))

custom_hooks = _base_.custom_hooks + [
    dict(type='DeferredReweightingHook', start_epoch=10, beta=0.9999),
]
