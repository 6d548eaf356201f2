# ISIC 2019 (Task 1 training set), 8 classes (MEL, NV, BCC, AK, BKL, DF, VASC,
# SCC), 224x224 input.  Grouped (lesion_id, else image id), stratified
# 70/15/15 train/val/test split; see docs/datasets.md.  ISIC 2019 contains all
# of HAM10000: set exclude_ham10000=True in the three datasets when a model is
# also evaluated on HAM10000.  Set the data root with the environment variable
# ISIC2019_ROOT=/path/to/ISIC2019, or with --cfg-options
# train_dataloader.dataset.data_root=X val_dataloader.dataset.data_root=X
# test_dataloader.dataset.data_root=X
# Pipeline, preprocessing and loaders: ./plain-resize_bs32_224.py.
_base_ = './plain-resize_bs32_224.py'
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

dataset_type = 'ISIC2019'
data_root = '{{$ISIC2019_ROOT:data/ISIC2019}}'
num_classes = 8

data_preprocessor = dict(num_classes=num_classes)

# The same dataset in the three loaders; the base sets each one's split,
# pipeline, sampler and batch size.
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 exclude_ham10000=False))
val_dataloader = train_dataloader
test_dataloader = train_dataloader
