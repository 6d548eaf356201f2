# Weight balancing, second stage (Alshammari et al., CVPR 2022): the stage-1
# classifier is fine-tuned with the class-balanced loss (effective number,
# beta 0.9999), weight decay 5e-3 and the MaxNorm constraint: after every
# step each class's weight vector is projected into the ball of radius
# min + 0.1 (max - min) of the initial row norms (the authors' thresh=0.1).
# 10 epochs, Adam lr 1e-4 cosine-annealed to 0, batch 32, backbone frozen.
# The run starts from the best checkpoint of the first stage, given with
# --cfg-options load_from=<that checkpoint> (it stops with an error naming
# the first stage's config otherwise).
# A config on this base adds its dataset base and a frozen-backbone model base
# (../models/*_frozen-backbone.py), and sets
# - model: the head's num_classes and loss, ClassBalancedLoss(beta=0.9999,
#   gamma=0.0, cls_num_list='auto');
# - custom_hooks: the runtime's hooks (_base_.custom_hooks) plus
#   SecondStageHook(first_stage=<the first stage's config>) and then
#   MaxNormHook(thresh=0.1).
# (Two bases may not set the same key, so those stay in the config.)
_base_ = [
    '../schedules/adam_cosine-10e_frozen-backbone.py',
    '../imbalanced_runtime.py',
]

optim_wrapper = dict(optimizer=dict(weight_decay=5e-3))

# BatchNorm is frozen (norm_eval), so there is nothing to synchronise across
# GPUs; plain BatchNorm keeps norm_eval effective (see the model bases).
sync_bn = None
