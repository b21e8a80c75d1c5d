"""Evaluation: pure metrics, dataset readers, submission checks, summaries and HTML reports.

    >>> from unmask.eval.metrics import log_loss, roc_auc
    >>> round(log_loss([0, 1], [0.2, 0.9]), 4), roc_auc([0, 1], [0.2, 0.9])
    (0.1643, 1.0)

Submodules are imported on demand so that ``import unmask.eval`` stays cheap; the report
module is the only one that needs matplotlib.
"""
