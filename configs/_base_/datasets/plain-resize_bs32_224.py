# The input recipe of the paper configs, shared by the dataset bases: pixels
# scaled to [0, 1], a plain 224x224 resize, no augmentation, and three loaders
# (train / val / test splits of one dataset) of batch 32 with 4 workers each.
# A dataset base on top of it sets the dataset (type, data_root and its
# options) in the three loaders and num_classes in the data_preprocessor.

# The official LMFLoss code (Adnan-Sadi/LMFLOSS) feeds Resize(224, 224) +
# ToTensor, i.e. pixels scaled to [0, 1] and no mean/std normalisation, even
# for ImageNet-pretrained backbones.  mean=0, std=255 reproduces that.  To use
# ImageNet normalisation instead, set
#   mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]
data_preprocessor = dict(
    mean=[0., 0., 0.],
    std=[255., 255., 255.],
    to_rgb=True,
)

# No augmentation (as in the official code): a plain resize to 224x224 with
# PIL bilinear interpolation, the same as torchvision's Resize on PIL images.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), backend='pillow',
         interpolation='bilinear'),
    dict(type='PackInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(split='train', pipeline=train_pipeline),
)
# Validation and test: as training, but in order, on their own split and
# with the test pipeline.
val_dataloader = dict(
    train_dataloader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(split='val', pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader, dataset=dict(split='test', pipeline=test_pipeline))
