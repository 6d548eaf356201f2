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
# As the single-label ODIR-5K base (./plain-resize_bs32_224.py): pixels
# scaled to [0, 1], no mean/std normalisation (the official LMF code's
# ToTensor), RGB, a plain PIL bilinear resize, no augmentation.
# The configs using this base import lmfloss_mm through their runtime base.
_base_ = './plain-resize_bs32_224.py'

dataset_type = 'ODIR5K'
data_root = '{{$ODIR5K_ROOT:data/ODIR-5K}}'
num_classes = 8

data_preprocessor = dict(num_classes=num_classes)

# The same dataset in the three loaders; the base sets each one's split,
# pipeline, sampler and batch size.
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 label_source='patient_multilabel', sample_unit='image'))
val_dataloader = train_dataloader
test_dataloader = train_dataloader
