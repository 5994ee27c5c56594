"""Nightly packaging-design pipeline: the library behind the DAGs, Spark jobs and CLI."""

__version__ = "0.1.0"
