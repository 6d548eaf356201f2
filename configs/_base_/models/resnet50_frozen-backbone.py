# ResNet-50 for the second stage of a two-stage recipe (cRT, LWS,
# tau-normalisation, weight balancing): every weight comes from the first
# stage's checkpoint (load_from), so there is no ImageNet initialisation.
# The backbone's weights are frozen by the stage-2 schedule (lr_mult=0,
# decay_mult=0 for 'backbone'), the same mechanism as for EfficientNetV2-S;
# norm_eval=True fixes the BatchNorm running statistics.
_base_ = './resnet50_in1k-pre.py'

model = dict(backbone=dict(norm_eval=True, init_cfg=None))
