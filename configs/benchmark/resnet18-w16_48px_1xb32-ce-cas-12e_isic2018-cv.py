# ISIC 2018 Task 3 test images, k-fold cross-validation
# (tools/benchmark_isic2018_cv.py), CPU preset with class-aware sampling (each
# draw picks a class uniformly, then an image of it): the cross-entropy config
# of this preset (ResNet-18 of width 16 from scratch, 48 px, 12 epochs, the
# paper's recipe otherwise) with the settings of
#   configs/ham10000/resnet50_in1k-pre_1xb32-ce-cas-100e_ham10000.py
_base_ = './resnet18-w16_48px_1xb32-ce-12e_isic2018-cv.py'

train_dataloader = dict(
    sampler=dict(_delete_=True, type='ClassAwareSampler', shuffle=True))
