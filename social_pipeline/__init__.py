"""social-pipeline: social-media analytics from six platform APIs into DuckDB, run by Dagster."""
