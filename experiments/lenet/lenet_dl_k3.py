"""Notebook 003: LeNetDL, 32/64 channels with a 3x3 second conv, 50 epochs.

    jaxmnist train lenet/lenet_dl_k3 --workdir workdirs/lenet/lenet_dl_k3

Where: section "Deeper layers", second LeNetDL. Model and data: LeNetDL redefined with a
3x3 second conv (padding 1), 50,890 parameters.

Recipe (`generate_data(batch_size=100)` + `train_test_MNIST`): MNIST; the first 48,000
training images in file order train (ChunkSampler: never shuffled), the last 12,000 are
the validation split, the 10,000 test images give the accuracy; all three loaders use
batch 100. ToTensor only, no normalisation, for every split. nn.CrossEntropyLoss on the
logits, Adam lr 1e-2, 50 epochs, seed 1234 (torch's stream is not reproduced).

Reference: no number. The run's curves are plotted live and are not in the dump; the
notebook's text after it: "A first shallow layer with large kernel size followed by a
second deeper layer with smaller kernel size seems to provide better results than the
previous experiment, comparable with those of the shallower model."
The notebook reports a duration of 321.24 s on a Colab GPU (torch 1.6). Noise: The
notebook repeats no run; its introduction says only "(results may slightly vary with
different runs)".
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
