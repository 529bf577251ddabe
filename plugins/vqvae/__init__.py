"""flowbench built-in plugin: vqvae."""
