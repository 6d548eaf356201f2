# ODIR-5K, 8 classes (N, D, G, C, A, H, M, O), one label per image (Kaggle's
# full_df.csv), 224x224 input.  Grouped (patient ID), stratified 70/15/15
# train/val/test split; see docs/datasets.md for the other label sources
# ('per_eye_keywords', 'patient_multilabel').  Set the data root with the
# environment variable ODIR5K_ROOT=/path/to/ODIR-5K, or with --cfg-options
# train_dataloader.dataset.data_root=X val_dataloader.dataset.data_root=X
# test_dataloader.dataset.data_root=X
# Pipeline, preprocessing and loaders: ./plain-resize_bs32_224.py.
_base_ = './plain-resize_bs32_224.py'
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

dataset_type = 'ODIR5K'
data_root = '{{$ODIR5K_ROOT:data/ODIR-5K}}'
num_classes = 8

data_preprocessor = dict(num_classes=num_classes)

# The same dataset in the three loaders; the base sets each one's split,
# pipeline, sampler and batch size.
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 label_source='kaggle_full_df'))
val_dataloader = train_dataloader
test_dataloader = train_dataloader
