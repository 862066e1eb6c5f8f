"""Labeling jobs (called projects, as in Label Studio): definition, data intake, lifecycle."""
