"""HTTP pieces that are not a view of jobs: limits, health, metrics."""
