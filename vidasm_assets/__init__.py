"""vidasm: a media build system on Dagster."""

__version__ = "0.1.0"
