# cRT, second stage (Kang et al., ICLR 2020): the linear classifier is
# re-initialised and re-trained with cross-entropy and class-aware sampling
# (every class equally likely) on the frozen backbone (weights and BatchNorm
# statistics). 10 epochs, Adam lr 1e-4 (wd 5e-4) cosine-annealed to 0, batch
# 32. The run starts from the best checkpoint of the first stage, given with
# --cfg-options load_from=<that checkpoint> (it stops with an error naming
# the first stage's config otherwise).
# A config on this base adds its dataset base and a frozen-backbone model base
# (../models/*_frozen-backbone.py), and sets
# - model: the head's num_classes;
# - train_dataloader: the ClassAwareSampler;
# - custom_hooks: the runtime's hooks (_base_.custom_hooks) plus
#   SecondStageHook(first_stage=<the first stage's config>, reinit_head=True).
# (Two bases may not set the same key, so those stay in the config.)
_base_ = [
    '../schedules/adam_cosine-10e_frozen-backbone.py',
    '../imbalanced_runtime.py',
]

# BatchNorm is frozen (norm_eval), so there is nothing to synchronise across
# GPUs; plain BatchNorm keeps norm_eval effective (see the model bases).
sync_bn = None
