# Second stage of a two-stage recipe (cRT, LWS, weight balancing, MiSLAS):
# 10 epochs, as Kang et al.'s cRT (ImageNet-LT), MiSLAS and the weight
# balancing code re-train their classifiers, with the recipe's Adam (lr 1e-4,
# weight decay 5e-4, batch 32) annealed to 0 by a per-epoch cosine schedule
# (Kang et al. and MiSLAS anneal stage 2 with a cosine).
# The backbone is frozen with lr_mult=0 and decay_mult=0: Adam's step is the
# learning rate times a finite quotient, so the backbone's weights stay
# exactly as loaded, whatever the backbone, and in distributed runs every
# parameter still gets its gradient (no unused-parameter errors). The
# backbone's gradients are therefore still computed.
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-4, weight_decay=5e-4),
    paramwise_cfg=dict(
        custom_keys={'backbone': dict(lr_mult=0.0, decay_mult=0.0)}))
param_scheduler = dict(
    type='CosineAnnealingLR', by_epoch=True, T_max=10, eta_min=0.0)
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
