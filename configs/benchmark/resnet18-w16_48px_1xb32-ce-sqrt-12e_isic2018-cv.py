# ISIC 2018 Task 3 test images, k-fold cross-validation
# (tools/benchmark_isic2018_cv.py), CPU preset with square-root sampling
# (classes drawn with probability proportional to sqrt(n_c)): the cross-entropy
# config of this preset (ResNet-18 of width 16 from scratch, 48 px, 12 epochs,
# the paper's recipe otherwise) with the settings of
#   configs/ham10000/resnet50_in1k-pre_1xb32-ce-sqrt-100e_ham10000.py
_base_ = './resnet18-w16_48px_1xb32-ce-12e_isic2018-cv.py'

train_dataloader = dict(
    sampler=dict(_delete_=True, type='SqrtSampler', shuffle=True))
