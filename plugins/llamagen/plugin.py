"""Registration hooks of the built-in llamagen plugin: ``llamagen-vq8`` and ``llamagen-vq16``."""

from flowbench.builtin.llamagen.tokenizer import LlamaGenVQ8Tokenizer, LlamaGenVQ16Tokenizer

from flowbench import hookimpl


@hookimpl
def register_tokenizers(register):
    register("llamagen-vq8", LlamaGenVQ8Tokenizer, description="LlamaGen VQ-8 (K=16384, D=8, l2-normalised, f=8)")
    register("llamagen-vq16", LlamaGenVQ16Tokenizer, description="LlamaGen VQ-16 (K=16384, D=8, l2-normalised, f=16)")
