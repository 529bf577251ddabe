"""flowbench built-in plugin: llamagen."""
