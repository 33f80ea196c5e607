"""Notebook 003: LeNetDrop repeated over 50 epochs.

    jaxmnist train lenet/lenet_drop_50 --workdir workdirs/lenet/lenet_drop_50

"we repeat the test over 50 epochs", the "Dropout:" run.

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"The training loss is significantly larger than the validation loss on the Dropout
model." The notebook took 292.78 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_drop", epochs=50, learning_rate=1e-2)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, 'we repeat the test over 50 epochs', the 'Dropout:' run",
        split="test", reduce="final", value=None,
        text='The training loss is significantly larger than the validation loss on the Dropout model.',
        notes='Only qualitative text after the run; its curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=292.78)
    return config
