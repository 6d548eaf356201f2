# ODIR-5K, multi-label, one sample per PATIENT (the organisers' unit): both
# fundus images side by side, [left eye | right eye], each eye 224x224, so
# the input is 224 (h) x 448 (w); labels = the patient's N, D, G, C, A, H, M,
# O columns (ODIR5K(label_source='patient_multilabel', sample_unit='patient')
# + LoadEyePair).  Patients with one usable eye only are dropped (logged).
# Grouped (patient ID), stratified 70/15/15 split, the same split file as the
# per-image base (odir5k_multilabel_image_bs32_224.py), whose dataset,
# preprocessing and loaders this base keeps.  See docs/multilabel.md.  Set the
# data root with ODIR5K_ROOT=/path/to/ODIR-5K or --cfg-options.  The configs
# using this base import lmfloss_mm through their runtime base.
_base_ = './odir5k_multilabel_image_bs32_224.py'

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

# One sample per patient, with the eye-pair pipeline, in the three loaders.
train_dataloader = dict(
    dataset=dict(sample_unit='patient', pipeline=train_pipeline))
val_dataloader = train_dataloader
test_dataloader = train_dataloader
