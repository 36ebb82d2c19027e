"""The ground floor every package stands on: table contracts, the typed config parser, errors,
atomic I/O, statistics shared by stages, the feature catalogue and bucketed tables."""
