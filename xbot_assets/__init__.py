"""xbot: the learning brain of an autonomous X account, as a Dagster asset graph."""
