"""Registration hooks of the built-in vqvae plugin: the ``vqvae`` tokenizer."""

from flowbench import hookimpl
from flowbench_vqvae.tokenizer import VQVAETokenizer


@hookimpl
def register_tokenizers(register):
    register("vqvae", VQVAETokenizer, description="flowbench's convolutional VQ-VAE (shipped: Fashion-MNIST, 7x7)")
