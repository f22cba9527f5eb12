"""The Dagster layer: the only package that imports dagster. Kept thin: it calls leadsync.pipeline."""
