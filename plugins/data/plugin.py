"""Registration hooks of the built-in data plugin: ``fashion-mnist`` and ``image-folder``."""

from flowbench.builtin.data.fashion_mnist import FashionMNIST
from flowbench.builtin.data.image_folder import ImageFolder

from flowbench import hookimpl


@hookimpl
def register_datasets(register):
    register("fashion-mnist", FashionMNIST, aliases=("fashion_mnist", "fmnist"))
    register("image-folder", ImageFolder, aliases=("imagefolder", "imagenet-folder"))
