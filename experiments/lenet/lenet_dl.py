"""Notebook 003: LeNetDL, 32/64 channels with a 5x5 second conv, 50 epochs.

    jaxmnist train lenet/lenet_dl --workdir workdirs/lenet/lenet_dl

Section "Deeper layers", first LeNetDL.

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"The increase in training time over 50 epochs is about +30%. The performance is comparable
yet slightly less stable, the network seems to overfit." The training cell shows no output at
all in the dump (not even "Start training"), but the text after it discusses the run.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_dl", epochs=50, learning_rate=1e-2)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Deeper layers', first LeNetDL",
        split="test", reduce="final", value=None,
        text=('The increase in training time over 50 epochs is about +30%. The performance is comparable yet '
              'slightly less stable, the network seems to overfit.'),
        notes=('The training cell shows no output at all in the dump (not even "Start training"), but the text '
               'after it discusses the run. Only qualitative text after the run; its curves are not in the dump.'),
        noise=recipes.NOISE_003,
        notebook_seconds=None)
    return config
