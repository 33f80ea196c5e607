"""Notebook 003: LeNetDeep (4 conv blocks), 50 epochs.

    jaxmnist train lenet/lenet_deep --workdir workdirs/lenet/lenet_deep

Section "Adding layers to the architecture".

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"The validation loss looks a bit better, more depth and training could help." The
notebook took 357.91 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=50, learning_rate=1e-2)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Adding layers to the architecture'",
        split="test", reduce="final", value=None,
        text='The validation loss looks a bit better, more depth and training could help.',
        notes='Only qualitative text after the run; its curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=357.91)
    return config
