"""Pure media layer: command builders, probing, parsers and the project model.

Nothing in this package imports Dagster, so it can be unit-tested and reused headless.
"""
