# ISIC 2018 Task 3 test images, k-fold cross-validation
# (tools/benchmark_isic2018_cv.py), CPU preset: the second stage of a
# two-stage recipe (cRT, LWS, tau-normalisation, weight balancing) on the
# preset's narrow ResNet-18, with the values of the preset's CE config
# (dataset, runtime, batch 32, Adam lr 1e-3, weight decay 5e-4).
# The paper-scale second stages train 10 epochs after a 100-epoch first stage
# (configs/_base_/second_stage/); here 10% of the preset's 12 epochs, 1.2,
# rounded up to 2 so that the per-epoch cosine schedule anneals at all:
# 2 epochs, lr cosine-annealed to 0. As there, the backbone is frozen
# (lr_mult=0 and decay_mult=0; BatchNorm running statistics fixed with
# norm_eval) and every weight comes from the best checkpoint of the first
# stage of the same fold and seed, which the tool gives as load_from.
# A config on this base sets its head, sampler and SecondStageHook.
_base_ = '../resnet18-w16_48px_1xb32-ce-12e_isic2018-cv.py'

model = dict(backbone=dict(norm_eval=True))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={'backbone': dict(lr_mult=0.0, decay_mult=0.0)}))
param_scheduler = dict(
    _delete_=True, type='CosineAnnealingLR', by_epoch=True, T_max=2,
    eta_min=0.0)
train_cfg = dict(max_epochs=2)

# BatchNorm is frozen (norm_eval), so there is nothing to synchronise across
# GPUs; plain BatchNorm keeps norm_eval effective.
sync_bn = None
