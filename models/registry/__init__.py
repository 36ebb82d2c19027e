"""Experiment tracking, model registry and the promotion gate's evidence (MLflow).

The register stage (`registration.run_register`) logs every training run (params, metrics, plots,
catalogue, data summary, git commit, data hashes) and registers its model as a new version with
alias `challenger`. The gate (`models.gate`) then compares the challenger with the current
`champion` *on the same current test data*: the champion's saved model is re-scored rather than
trusting the metrics it was registered with, which came from older data. `champion` moves only
when the gate passes (and, in approval mode, when a person approves: `approval.approve_version`);
a failed gate is a verdict, not an error. Registry stages are deprecated in MLflow, so only
aliases are used.

One idea a module:

- `provenance`: where a run came from and where it went (file hashes, git commit, the tracking
  URI as resolved and in the portable form a tracked report may hold);
- `stale_runs`: runs left RUNNING by a killed process, found by their process tags and ended;
- `tracking`: the MLflow run and the registered version (`log_and_register`: params, metrics,
  artifacts, the served model with its signature and code, aliases, the champion re-scored);
- `registration`: the register stage's inputs, the gate's evidence and the stage's one call;
- `approval`: a person's approval of a version the gate left waiting.
"""
