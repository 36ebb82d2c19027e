"""Serving: the registered pyfunc model and the batch scorer, on the pipeline's own functions."""
