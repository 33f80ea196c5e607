"""Notebook 003: LeNetDropBN (Dropout + BatchNorm), 50 epochs.

    jaxmnist train lenet/lenet_drop_bn --workdir workdirs/lenet/lenet_drop_bn

Section "Combining Dropout and Batch Normalization".

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"This method provides the highest and most stable accuracy so far." The notebook took
308.85 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_drop_bn", epochs=50, learning_rate=1e-2)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Combining Dropout and Batch Normalization'",
        split="test", reduce="final", value=None,
        text='This method provides the highest and most stable accuracy so far.',
        notes='Only qualitative text after the run; its curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=308.85)
    return config
