# The LMF recipe of the paper configs (ResNet-50 from ImageNet-1k, Adam 1e-4,
# StepLR, 100 epochs, batch 32, 224 px, best val macro-F1 kept) on any folder
# that holds the ISIC 2018 Task 3 test images and their ground truth
# ISIC2018_Task3_Test_GroundTruth.csv (one-hot columns MEL, NV, BCC, AKIEC,
# BKL, DF, VASC), read by the generic CSVImageDataset: the 1,512 images are
# split 70/15/15, stratified by class (no lesion ids are published, so each
# image is its own group).
#   DATA_ROOT=/path/to/isic2018_task3_test mim train mmpretrain \
#       configs/examples/resnet50_in1k-pre_1xb32-lmf-100e_isic2018-test-csv.py
_base_ = [
    '../_base_/datasets/csv_images_bs32_224.py',
    '../_base_/models/resnet50_in1k-pre.py',
    '../_base_/schedules/adam_steplr-30e_100e.py',
    '../_base_/imbalanced_runtime.py',
]
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)

# Labels: the one-hot columns, classes in file order (MEL=0 ... VASC=6).
csv_dataset = dict(ann_file='ISIC2018_Task3_Test_GroundTruth.csv')
train_dataloader = dict(dataset=csv_dataset)
val_dataloader = dict(dataset=csv_dataset)
test_dataloader = dict(dataset=csv_dataset)

data_preprocessor = dict(num_classes=7)
# LMFLoss's defaults are the official hyper-parameters: 1.5 * LDAM + 1.0 *
# focal, gamma 1.5, max_m 0.5, s 30, the margins as class weights.
model = dict(
    head=dict(
        num_classes=7,
        loss=dict(_delete_=True, type='LMFLoss', cls_num_list='auto')))
