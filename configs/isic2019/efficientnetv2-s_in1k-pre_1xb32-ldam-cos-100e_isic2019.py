# ISIC-2019, EfficientNetV2-S (ImageNet-1k init), official LMF recipe, with the
# linear head replaced by CosineClsHead (logits = cosine similarities between
# L2-normalised features and class weights, in [-1, 1]).
# LDAM as in the paper config (max_m 0.5, s 30, class weights = margin
# vector), now on cosine logits, as the LDAM paper designed it (s = 30 on
# NormedLinear cosines) instead of on an ordinary linear head.
# Everything else (data, schedule, loss, num_classes) is inherited from
# efficientnetv2-s_in1k-pre_1xb32-ldam-100e_isic2019.py.
# scale=1.0: the loss applies s = 30 itself. score_scale=30.0: pred_score =
# softmax(30 * cos), the distribution the LDAM term trains (the softmax of raw
# cosines is nearly uniform, which would make ECE meaningless).
_base_ = './efficientnetv2-s_in1k-pre_1xb32-ldam-100e_isic2019.py'
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

model = dict(
    head=dict(
        _delete_=True,
        type='CosineClsHead',
        num_classes={{_base_.model.head.num_classes}},
        in_channels={{_base_.model.head.in_channels}},
        scale=1.0,
        score_scale=30.0,
        loss={{_base_.model.head.loss}},
        topk={{_base_.model.head.topk}}))
