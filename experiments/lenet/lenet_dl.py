"""Notebook 003: LeNetDL, 32/64 channels with a 5x5 second conv, 50 epochs.

    jaxmnist train lenet/lenet_dl --workdir workdirs/lenet/lenet_dl

Where: section "Deeper layers", first LeNetDL. Model and data: LeNetDL (LeNetDropBN with
32 and 64 channels, both convs 5x5, 83,658 parameters).

Recipe (`generate_data(batch_size=100)` + `train_test_MNIST`): MNIST; the first 48,000
training images in file order train (ChunkSampler: never shuffled), the last 12,000 are
the validation split, the 10,000 test images give the accuracy; all three loaders use
batch 100. ToTensor only, no normalisation, for every split. nn.CrossEntropyLoss on the
logits, Adam lr 1e-2, 50 epochs, seed 1234 (torch's stream is not reproduced).

Reference: no number. The run's curves are plotted live and are not in the dump; the
notebook's text after it: "The increase in training time over 50 epochs is about +30%.
The performance is comparable yet slightly less stable, the network seems to overfit."
The training cell shows no output at all in the dump (not even "Start training"), but
the text after it discusses the run.
Noise: The notebook repeats no run; its introduction says only "(results may slightly
vary with different runs)".
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
