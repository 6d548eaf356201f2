# ODIR-5K, 8 classes (N, D, G, C, A, H, M, O), one label per image (Kaggle's
# full_df.csv), 224x224 input.  Grouped (patient ID), stratified 70/15/15
# train/val/test split; see docs/datasets.md for the other label sources
# ('per_eye_keywords', 'patient_multilabel').  Set the data root with the
# environment variable ODIR5K_ROOT=/path/to/ODIR-5K, or with --cfg-options
# train_dataloader.dataset.data_root=X val_dataloader.dataset.data_root=X
# test_dataloader.dataset.data_root=X
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

dataset_type = 'ODIR5K'
data_root = '{{$ODIR5K_ROOT:data/ODIR-5K}}'
num_classes = 8

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
        label_source='kaggle_full_df',
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
        label_source='kaggle_full_df',
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
        label_source='kaggle_full_df',
        split='test',
        pipeline=test_pipeline),
)
