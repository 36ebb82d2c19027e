"""What ingest and feature building compute: the built-in generator, the loan-table and
repayment-history readers, behavioural and loan-table features, data quality and splits."""
