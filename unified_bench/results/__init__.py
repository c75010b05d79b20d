"""The results file: versioned schema, aggregation with confidence intervals, provenance."""
