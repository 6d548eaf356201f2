# ISIC 2018 Task 3 test images, k-fold cross-validation
# (tools/benchmark_isic2018_cv.py), CPU preset with weight balancing, stage 1
# (cross-entropy with weight decay 5e-3, 10x the recipe's 5e-4): the cross-
# entropy config of this preset (ResNet-18 of width 16 from scratch, 48 px, 12
# epochs, the paper's recipe otherwise) with the settings of
#   configs/ham10000/resnet50_in1k-pre_1xb32-ce-wb-100e_ham10000.py
_base_ = './resnet18-w16_48px_1xb32-ce-12e_isic2018-cv.py'

optim_wrapper = dict(optimizer=dict(weight_decay=5e-3))
