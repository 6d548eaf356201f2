# The official LMF training schedule: Adam, lr 1e-4, weight decay 5e-4,
# StepLR (x0.1 every 30 epochs), 100 epochs, validation every epoch, for
# batch size 32 on one GPU (auto_scale_lr scales lr with the total batch).
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-4, weight_decay=5e-4))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=30, gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
