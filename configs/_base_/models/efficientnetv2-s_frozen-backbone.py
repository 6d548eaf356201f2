# EfficientNetV2-S for the second stage of a two-stage recipe (cRT, LWS,
# tau-normalisation, weight balancing): every weight comes from the first
# stage's checkpoint (load_from), so there is no ImageNet initialisation.
# The backbone's weights are frozen by the stage-2 schedule (lr_mult=0,
# decay_mult=0 for 'backbone'), not by frozen_stages: MMPretrain's
# EfficientNetV2 freezes at most 7 of its 8 layers (never the last 1x1
# convolution) and sets requires_grad=False only in train(), after a
# distributed wrapper has registered the parameters. norm_eval=True fixes the
# BatchNorm running statistics; it only recognises nn.BatchNorm2d, so the
# stage-2 configs keep plain BatchNorm in distributed runs (sync_bn=None).
_base_ = './efficientnetv2-s_in1k-pre.py'

model = dict(backbone=dict(norm_eval=True, init_cfg=None))
