"""What the released-checkpoint VQ tokenizers share (the LDM/taming and LlamaGen plugins): the
:class:`PretrainedVQTokenizer` base and the convolutional blocks their autoencoders are built from.

Plugins import these from the core, not from each other."""

from flowbench.pretrained_vq.tokenizer import PretrainedVQTokenizer

__all__ = ["PretrainedVQTokenizer"]
