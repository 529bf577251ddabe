"""Registration hooks of the built-in ldm plugin."""

from flowbench import hookimpl  # noqa: F401
