# tau-normalisation (Kang et al., ICLR 2020): no training. The stage-1
# classifier's weight vectors are divided by their norm to the power tau (bias
# dropped); TauNormSweepLoop validates tau = 0, 0.1, ..., 1 and keeps the best
# validation macro-F1 (its checkpoint, with head.tau, is the best checkpoint
# of the run). The run starts from the best checkpoint of the first stage,
# given with --cfg-options load_from=<that checkpoint>.
# A config on this base adds its dataset base and a frozen-backbone model base
# (../models/*_frozen-backbone.py), and sets
# - model: the head, TauNormClsHead, and its num_classes;
# - custom_hooks: the runtime's hooks (_base_.custom_hooks) plus
#   SecondStageHook(first_stage=<the first stage's config>).
# (Two bases may not set the same key, so those stay in the config.)
_base_ = [
    '../schedules/adam_cosine-10e_frozen-backbone.py',
    '../imbalanced_runtime.py',
]

train_cfg = dict(_delete_=True, type='TauNormSweepLoop')

# BatchNorm is frozen (norm_eval), so there is nothing to synchronise across
# GPUs; plain BatchNorm keeps norm_eval effective (see the model bases).
sync_bn = None
