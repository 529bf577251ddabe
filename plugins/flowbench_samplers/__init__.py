"""flowbench built-in plugin: samplers."""
