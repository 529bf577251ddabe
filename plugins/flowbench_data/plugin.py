"""Registration hooks of the built-in data plugin: ``fashion-mnist`` and ``image-folder``."""

from flowbench import hookimpl
from flowbench_data.fashion_mnist import FashionMNIST
from flowbench_data.image_folder import ImageFolder


@hookimpl
def register_datasets(register):
    register("fashion-mnist", FashionMNIST, aliases=("fashion_mnist", "fmnist"))
    register("image-folder", ImageFolder, aliases=("imagefolder", "imagenet-folder"))
