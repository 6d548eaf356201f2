# Any folder of images with an annotation CSV (CSVImageDataset), 224x224
# input, batch 32. Grouped (by group_column, else by image), stratified
# 70/15/15 train/val/test split, written to <data_root>/lmfloss_splits/ on
# first use; see docs/datasets.md ("Your own data").
# Set the folder with the environment variable DATA_ROOT=/path/to/data, or
# with --cfg-options train_dataloader.dataset.data_root=X
# val_dataloader.dataset.data_root=X test_dataloader.dataset.data_root=X
# A config on this base sets ann_file (and the columns) in the three
# dataloaders and num_classes in the model and data_preprocessor; see
# configs/examples/.
# Pipeline, preprocessing and loaders (as the paper configs: pixels scaled to
# [0, 1], a plain resize, no augmentation): ./plain-resize_bs32_224.py.
_base_ = './plain-resize_bs32_224.py'
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

dataset_type = 'CSVImageDataset'
data_root = '{{$DATA_ROOT:data/my_dataset}}'

# The three splits of one annotation file (the base sets each loader's split).
csv_dataset = dict(type=dataset_type, data_root=data_root,
                   ann_file='labels.csv')
train_dataloader = dict(dataset=csv_dataset)
val_dataloader = train_dataloader
test_dataloader = train_dataloader
