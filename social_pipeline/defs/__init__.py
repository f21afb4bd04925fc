"""Dagster definitions: thin wrappers that read config and call the plain modules."""
