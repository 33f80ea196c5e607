"""Notebook 003: LeNetDeep (4 conv blocks), 50 epochs.

    jaxmnist train lenet/lenet_deep --workdir workdirs/lenet/lenet_deep

Where: section "Adding layers to the architecture". Model and data: LeNetDeep
(BatchNorm2d(1) on the input + 4 conv blocks of 16, 32, 64, 128 channels, 107,372
parameters).

Recipe (`generate_data(batch_size=100)` + `train_test_MNIST`): MNIST; the first 48,000
training images in file order train (ChunkSampler: never shuffled), the last 12,000 are
the validation split, the 10,000 test images give the accuracy; all three loaders use
batch 100. ToTensor only, no normalisation, for every split. nn.CrossEntropyLoss on the
logits, Adam lr 1e-2, 50 epochs, seed 1234 (torch's stream is not reproduced).

Reference: no number. The run's curves are plotted live and are not in the dump; the
notebook's text after it: "The validation loss looks a bit better, more depth and
training could help."
The notebook reports a duration of 357.91 s on a Colab GPU (torch 1.6). Noise: The
notebook repeats no run; its introduction says only "(results may slightly vary with
different runs)".
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
