"""Registration hooks of the built-in vfm plugin."""

from flowbench import hookimpl  # noqa: F401
