"""flowbench built-in plugin: ldm."""
