"""Explanations of the PD model, by concern.

- `treeshap`: exact TreeSHAP values and their checks, global importance, SHAP by grade;
- `selection`: which rows are explained (test sample, actionable book, drill-down accounts);
- `reason_dictionary`: the reason dictionary (families, wording) read from configs/reasons.yaml;
- `reasons`: reason codes: families ranked by SHAP, worded from the reason dictionary;
- `inputs` and `run`: read the stage's inputs through the contracts; `explain_book` does the work;
- `plots` and `html`: matplotlib figures and the self-contained HTML report;
- `notebook`: helpers the reviewer notebook calls.

Nothing here talks to MLflow: the register stage attaches the report and tables to the model's run.
"""
