"""Errors a user can act on: each message names the input and what to do about it."""


class PipelineError(Exception):
    """A failure caused by input or configuration, reported without a traceback by the CLI."""


class ConfigError(PipelineError):
    """Missing or invalid configuration (environment, Params, Connections)."""


class InputError(PipelineError):
    """A raw input that cannot be used: missing partition, unreadable file, too many bad rows."""
