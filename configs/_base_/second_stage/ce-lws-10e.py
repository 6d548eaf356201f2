# LWS, second stage (Kang et al., ICLR 2020): the stage-1 classifier is kept
# fixed and one scale per class, f_j (logit_j = f_j (w_j x + b_j), f = 1 at
# the start), is learned with cross-entropy and class-aware sampling on the
# frozen backbone. 10 epochs, Adam lr 1e-4 (wd 5e-4) cosine-annealed to 0,
# batch 32. The run starts from the best checkpoint of the first stage, given
# with --cfg-options load_from=<that checkpoint> (it stops with an error
# naming the first stage's config otherwise).
# A config on this base adds its dataset base and a frozen-backbone model base
# (../models/*_frozen-backbone.py), and sets
# - model: the head, LWSClsHead, and its num_classes;
# - train_dataloader: the ClassAwareSampler;
# - custom_hooks: the runtime's hooks (_base_.custom_hooks) plus
#   SecondStageHook(first_stage=<the first stage's config>).
# (Two bases may not set the same key, so those stay in the config.)
_base_ = [
    '../schedules/adam_cosine-10e_frozen-backbone.py',
    '../imbalanced_runtime.py',
]

# BatchNorm is frozen (norm_eval), so there is nothing to synchronise across
# GPUs; plain BatchNorm keeps norm_eval effective (see the model bases).
sync_bn = None
