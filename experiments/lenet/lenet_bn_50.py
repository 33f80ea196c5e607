"""Notebook 003: LeNetBN repeated over 50 epochs.

    jaxmnist train lenet/lenet_bn_50 --workdir workdirs/lenet/lenet_bn_50

"we repeat the test over 50 epochs", the "Batch Normalization:" run.

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"Batch normalization seems to perform better and is a bit more stable, although its
validation loss increases with time." The notebook took 299.66 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_bn", epochs=50, learning_rate=1e-2)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, 'we repeat the test over 50 epochs', the 'Batch Normalization:' run",
        split="test", reduce="final", value=None,
        text=('Batch normalization seems to perform better and is a bit more stable, although its validation '
              'loss increases with time.'),
        notes='Only qualitative text after the run; its curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=299.66)
    return config
