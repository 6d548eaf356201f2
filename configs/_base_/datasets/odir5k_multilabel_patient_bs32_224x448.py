# ODIR-5K, multi-label, one sample per PATIENT (the organisers' unit): both
# fundus images side by side, [left eye | right eye], each eye 224x224, so
# the input is 224 (h) x 448 (w); labels = the patient's N, D, G, C, A, H, M,
# O columns (ODIR5K(label_source='patient_multilabel', sample_unit='patient')
# + LoadEyePair).  Patients with one usable eye only are dropped (logged).
# Grouped (patient ID), stratified 70/15/15 split, the same split file as the
# per-image base (odir5k_multilabel_image_bs32_224.py).  See
# docs/multilabel.md.  Set the data root with ODIR5K_ROOT=/path/to/ODIR-5K or
# --cfg-options.  The configs using this base import lmfloss_mm through their
# runtime base.
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

# LoadEyePair: left | right at the left eye's size (the right eye is resized
# to it if they differ); Resize then gives each eye 224x224 (scale is (w, h)).
# No augmentation (the project's recipe).
train_pipeline = [
    dict(type='LoadEyePair'),
    dict(type='Resize', scale=(448, 224), backend='pillow',
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
        sample_unit='patient',
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
        sample_unit='patient',
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
        sample_unit='patient',
        split='test',
        pipeline=test_pipeline),
)
