"""Registration hooks of the built-in dit plugin."""

from flowbench import hookimpl  # noqa: F401
