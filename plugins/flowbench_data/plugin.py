"""Registration hooks of the built-in data plugin."""

from flowbench import hookimpl  # noqa: F401
