"""flowbench built-in plugin: metrics."""
