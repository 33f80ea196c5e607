"""Notebook 003: LeNetBN (BatchNorm), 10 epochs.

    jaxmnist train lenet/lenet_bn --workdir workdirs/lenet/lenet_bn

Section "Addition of Batch Normalization".

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"We easily reach accuracies of 98.5-99% over ten epochs." The notebook took 58.07 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_bn", epochs=10, learning_rate=1e-2)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Addition of Batch Normalization'",
        split="test", reduce="final", value=None,
        text='We easily reach accuracies of 98.5-99% over ten epochs.',
        notes='Only qualitative text after the run; its curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=58.07)
    return config
