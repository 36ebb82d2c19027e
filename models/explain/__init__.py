"""Explanations: TreeSHAP, row selection, reason codes, plots and the reviewer report."""
