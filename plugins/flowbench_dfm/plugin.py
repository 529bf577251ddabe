"""Registration hooks of the built-in dfm plugin."""

from flowbench import hookimpl  # noqa: F401
