# MiSLAS, second stage (Zhong et al., CVPR 2021): label-aware smoothing (eps
# 0.3 for the most frequent class down to 0 for the rarest, concave; the
# authors' values for CIFAR-10-LT and ImageNet-LT), a learnable scale per
# class (LWS) trained at the full learning rate and the stage-1 classifier
# fine-tuned at 0.05x, with class-aware sampling. The backbone weights are
# frozen (lr_mult=0) but its BatchNorm layers stay in training mode, so their
# running statistics follow the re-sampled data (MiSLAS' "shift learning on
# BN"). 10 epochs, Adam lr 1e-4 (wd 5e-4) cosine-annealed to 0, batch 32. The
# run starts from the best checkpoint of the first stage, given with
# --cfg-options load_from=<that checkpoint>.
# A config on this base adds its dataset base and a frozen-backbone model base
# (../models/*_frozen-backbone.py), and sets
# - model: backbone norm_eval=False, the head (LWSClsHead with
#   freeze_classifier=False), its num_classes and loss,
#   LabelAwareSmoothingLoss(eps_head=0.3, eps_tail=0.0, shape='concave',
#   cls_num_list='auto');
# - train_dataloader: the ClassAwareSampler;
# - custom_hooks: the runtime's hooks (_base_.custom_hooks) plus
#   SecondStageHook(first_stage=<the first stage's config>).
# (Two bases may not set the same key, so those stay in the config.)
_base_ = [
    '../schedules/adam_cosine-10e_frozen-backbone.py',
    '../imbalanced_runtime.py',
]

# The stage-1 classifier at 0.05x the learning rate (the backbone stays at 0).
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'head.fc': dict(lr_mult=0.05)}))
