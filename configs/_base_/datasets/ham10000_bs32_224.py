# HAM10000, 7 classes (akiec, bcc, bkl, df, mel, nv, vasc), 224x224 input.
# Grouped (lesion_id), stratified 70/15/15 train/val/test split; see
# docs/datasets.md.  Set the data root with the environment variable
# HAM10000_ROOT=/path/to/HAM10000, or with --cfg-options
# train_dataloader.dataset.data_root=X val_dataloader.dataset.data_root=X
# test_dataloader.dataset.data_root=X
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

dataset_type = 'HAM10000'
data_root = '{{$HAM10000_ROOT:data/HAM10000}}'
num_classes = 7

# The official LMFLoss code (Adnan-Sadi/LMFLOSS) feeds Resize(224, 224) +
# ToTensor, i.e. pixels scaled to [0, 1] and no mean/std normalisation, even
# for ImageNet-pretrained backbones.  mean=0, std=255 reproduces that.  To use
# ImageNet normalisation instead, set
#   mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]
data_preprocessor = dict(
    num_classes=num_classes,
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), backend='pillow',
         interpolation='bilinear'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline),
)
