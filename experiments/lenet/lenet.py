"""Notebook 003: LeNet, Adam lr 1e-2, batch 100, 10 epochs, no augmentation.

    jaxmnist train lenet/lenet --workdir workdirs/lenet/lenet

Section "LeNet".

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"The accuracy is about 98%." The notebook took 55.77 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet", epochs=10, learning_rate=1e-2)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'LeNet'",
        split="test", reduce="final", value=None,
        text='The accuracy is about 98%.',
        notes='Only qualitative text after the run; its curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=55.77)
    return config
