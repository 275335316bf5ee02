"""CSV contact imports: a feature on top of ingest (rows become ingest batches) and the audience."""
