"""Registration hooks of the built-in samplers plugin."""

from flowbench import hookimpl  # noqa: F401
