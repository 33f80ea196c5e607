"""Notebook 003: LeNetDL, 32/64 channels with a 3x3 second conv, 50 epochs.

    jaxmnist train lenet/lenet_dl_k3 --workdir workdirs/lenet/lenet_dl_k3

Section "Deeper layers", second LeNetDL: redefined with a 3x3 second conv (padding 1).

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"A first shallow layer with large kernel size followed by a second deeper layer with
smaller kernel size seems to provide better results than the previous experiment, comparable
with those of the shallower model." The notebook took 321.24 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_dl_k3", epochs=50, learning_rate=1e-2)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Deeper layers', second LeNetDL",
        split="test", reduce="final", value=None,
        text=('A first shallow layer with large kernel size followed by a second deeper layer with smaller '
              'kernel size seems to provide better results than the previous experiment, comparable with those '
              'of the shallower model.'),
        notes='Only qualitative text after the run; its curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=321.24)
    return config
