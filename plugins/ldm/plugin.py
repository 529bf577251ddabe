"""Registration hooks of the built-in ldm plugin: the ``ldm-vq-f8`` tokenizer."""

from flowbench.builtin.ldm.tokenizer import LDMVQF8Tokenizer

from flowbench import hookimpl


@hookimpl
def register_tokenizers(register):
    register("ldm-vq-f8", LDMVQF8Tokenizer, aliases=("vq-f8",), description="LDM/taming VQ-f8 (K=16384, D=4, f=8)")
