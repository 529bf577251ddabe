"""Registration hooks of the built-in metrics plugin."""

from flowbench import hookimpl  # noqa: F401
