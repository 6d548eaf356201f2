# HAM10000, 7 classes (akiec, bcc, bkl, df, mel, nv, vasc), 224x224 input.
# Grouped (lesion_id), stratified 70/15/15 train/val/test split; see
# docs/datasets.md.  Set the data root with the environment variable
# HAM10000_ROOT=/path/to/HAM10000, or with --cfg-options
# train_dataloader.dataset.data_root=X val_dataloader.dataset.data_root=X
# test_dataloader.dataset.data_root=X
# Pipeline, preprocessing and loaders: ./plain-resize_bs32_224.py.
_base_ = './plain-resize_bs32_224.py'
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

dataset_type = 'HAM10000'
data_root = '{{$HAM10000_ROOT:data/HAM10000}}'
num_classes = 7

data_preprocessor = dict(num_classes=num_classes)

# The same dataset in the three loaders; the base sets each one's split,
# pipeline, sampler and batch size.
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = train_dataloader
test_dataloader = train_dataloader
