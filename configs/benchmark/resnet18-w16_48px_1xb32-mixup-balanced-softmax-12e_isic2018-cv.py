# ISIC 2018 Task 3 test images, k-fold cross-validation
# (tools/benchmark_isic2018_cv.py), CPU preset with Mixup (alpha 0.2) and
# Balanced Softmax: the Balanced Softmax config of this preset with the batch
# augment of
#   configs/ham10000/resnet50_in1k-pre_1xb32-mixup-balanced-softmax-100e_
#   ham10000.py
_base_ = './resnet18-w16_48px_1xb32-balanced-softmax-12e_isic2018-cv.py'

model = dict(train_cfg=dict(augments=[dict(type='Mixup', alpha=0.2)]))
