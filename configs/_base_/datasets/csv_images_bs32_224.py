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
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

dataset_type = 'CSVImageDataset'
data_root = '{{$DATA_ROOT:data/my_dataset}}'

# As the paper configs (the official LMF code): pixels scaled to [0, 1], no
# mean/std normalisation, a plain resize, no augmentation.
data_preprocessor = dict(
    mean=[0., 0., 0.],
    std=[255., 255., 255.],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), backend='pillow',
         interpolation='bilinear'),
    dict(type='PackInputs'),
]
test_pipeline = train_pipeline

# The three splits of one annotation file; the loaders differ only in the
# split, the pipeline and shuffling.
csv_dataset = dict(type=dataset_type, data_root=data_root,
                   ann_file='labels.csv')
loader = dict(batch_size=32, num_workers=4, persistent_workers=True)
train_dataloader = dict(
    **loader,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(**csv_dataset, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    **loader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**csv_dataset, split='val', pipeline=test_pipeline))
test_dataloader = dict(
    **loader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**csv_dataset, split='test', pipeline=test_pipeline))
