"""Notebook 003: LeNetDrop (Dropout2d + Dropout), 10 epochs.

    jaxmnist train lenet/lenet_drop --workdir workdirs/lenet/lenet_drop

Section "Simple Dropout replacing or combined with Batch Normalization".

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"Dropout requires more training time in order for the network to learn to perform with
only a random subset of its connections." The notebook took 57.06 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_drop", epochs=10, learning_rate=1e-2)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Simple Dropout replacing or combined with Batch Normalization'",
        split="test", reduce="final", value=None,
        text=('Dropout requires more training time in order for the network to learn to perform with only a '
              'random subset of its connections.'),
        notes='Only qualitative text after the run; its curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=57.06)
    return config
