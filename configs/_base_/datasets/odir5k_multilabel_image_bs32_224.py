# ODIR-5K, multi-label, one sample per EYE (image) carrying its PATIENT's
# labels N, D, G, C, A, H, M, O (label_source='patient_multilabel'), 224x224.
# The label is noisy at the image level: the organisers labelled patients
# from both eyes, so the normal eye of a one-sided cataract patient is
# labelled C (and not N).  See docs/multilabel.md.
# Grouped (patient ID), stratified 70/15/15 split: the same split file as the
# patient-level base (odir5k_multilabel_patient_bs32_224x448.py), so both
# units use the same patients in each split.
# The labels come from the organisers' annotation (data.xlsx / "training
# annotation (English).xlsx") with all 7,000 training images; without it,
# Kaggle's full_df.csv (its patient-level N..O columns, 6,392 images) is read.
# Set the data root with ODIR5K_ROOT=/path/to/ODIR-5K or --cfg-options.
# The configs using this base import lmfloss_mm through their runtime base.
dataset_type = 'ODIR5K'
data_root = '{{$ODIR5K_ROOT:data/ODIR-5K}}'
num_classes = 8

# As the single-label ODIR-5K base: pixels scaled to [0, 1], no mean/std
# normalisation (the official LMF code's ToTensor), RGB.
data_preprocessor = dict(
    num_classes=num_classes,
    mean=[0., 0., 0.],
    std=[255., 255., 255.],
    to_rgb=True,
)

# No augmentation (the project's recipe): a plain PIL bilinear resize.
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
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        label_source='patient_multilabel',
        sample_unit='image',
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
        label_source='patient_multilabel',
        sample_unit='image',
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
        label_source='patient_multilabel',
        sample_unit='image',
        split='test',
        pipeline=test_pipeline),
)
