"""flowbench built-in plugin: dit."""
