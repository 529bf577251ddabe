"""Registration hooks of the built-in llamagen plugin."""

from flowbench import hookimpl  # noqa: F401
