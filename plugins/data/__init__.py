"""flowbench built-in plugin: data."""
