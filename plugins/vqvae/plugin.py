"""Registration hooks of the built-in vqvae plugin: the ``vqvae`` tokenizer."""

from flowbench.builtin.vqvae.tokenizer import VQVAETokenizer

from flowbench import hookimpl


@hookimpl
def register_tokenizers(register):
    register("vqvae", VQVAETokenizer, description="flowbench's convolutional VQ-VAE (shipped: Fashion-MNIST, 7x7)")
