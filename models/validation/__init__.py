"""Model validation statistics: PD calibration tests per grade and discrimination intervals.

Pure functions on outcomes and predictions, so the training report, monitoring and the
champion/challenger gate all read the same numbers.
"""
