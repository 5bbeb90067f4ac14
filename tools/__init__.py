"""Analysis of trained runs: error galleries, curve tables, labeled draws,
evaluation under a transform (python -m tools.NAME --help)."""
