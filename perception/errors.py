"""Errors perception raises for bad models."""


class ModelError(RuntimeError):
    """A model file that cannot be used. The message names the file and what was expected."""
