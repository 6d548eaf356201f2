# Runtime of the patient-level multi-label configs: ./multilabel_runtime.py
# plus the ODIR-5K challenge score (ODIRScore): Cohen's kappa, F1 and ROC AUC
# over all (patient, label) pairs at threshold 0.5, and their mean, under
# odir/kappa, odir/f1, odir/auc, odir/final_score (fractions, as the
# challenge reports them). The image-level configs do not report it: their
# samples are eyes, not patients. The best checkpoint is still the best mAP.
_base_ = './multilabel_runtime.py'

val_evaluator = [
    dict(type='AveragePrecision', average='macro'),
    dict(type='AveragePrecision', average=None),
    dict(type='MultiLabelMetric', thr=0.5, average='macro'),
    dict(type='MultiLabelMetric', thr=0.5, average=None),
    dict(type='ODIRScore', thr=0.5),
]
test_evaluator = val_evaluator
