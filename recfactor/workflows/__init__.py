"""What the commands do, as Python calls: the command line and ``import recfactor as rf`` run the
same code, so a model trained either way is the same file, byte for byte.

- ``training``: :func:`train_file` (read, fit, save with the file's lineage), its Spark twin
  :func:`train_on_spark`, and :func:`update_saved` (a saved model brought up to date).
- ``evaluating``: :func:`evaluate_file` (algorithms x seeds x splits of a file, or of a saved
  model's own data: :func:`reevaluate`), :func:`evaluate_on_spark`, :func:`score_saved` (a
  saved model on a test file, no fit) and :func:`tune_file` (search, re-run, refit, save).

Each takes ``note`` (what a command says on stderr) and ``progress`` (a progress bar around
the work: called with its title, it gives a context whose value is called as each step ends,
or with (done, total)); neither is needed.
"""

from recfactor.workflows.evaluating import (
    Tuned,
    evaluate_file,
    evaluate_on_spark,
    recorded_setup,
    reevaluate,
    score_saved,
    tune_file,
)
from recfactor.workflows.training import (
    NEIGHBOURS_CHECK_RATINGS,
    build,
    check_features,
    neighbours_check,
    train_file,
    train_on_spark,
    update_saved,
    with_features,
)

__all__ = [
    "NEIGHBOURS_CHECK_RATINGS",
    "Tuned",
    "build",
    "check_features",
    "evaluate_file",
    "evaluate_on_spark",
    "neighbours_check",
    "recorded_setup",
    "reevaluate",
    "score_saved",
    "train_file",
    "train_on_spark",
    "tune_file",
    "update_saved",
    "with_features",
]
