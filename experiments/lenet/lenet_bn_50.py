"""Notebook 003: LeNetBN repeated over 50 epochs.

    jaxmnist train lenet/lenet_bn_50 --workdir workdirs/lenet/lenet_bn_50

Where: "we repeat the test over 50 epochs", the "Batch Normalization:" run. Model and
data: LeNetBN again, 50 epochs.

Recipe (`generate_data(batch_size=100)` + `train_test_MNIST`): MNIST; the first 48,000
training images in file order train (ChunkSampler: never shuffled), the last 12,000 are
the validation split, the 10,000 test images give the accuracy; all three loaders use
batch 100. ToTensor only, no normalisation, for every split. nn.CrossEntropyLoss on the
logits, Adam lr 1e-2, 50 epochs, seed 1234 (torch's stream is not reproduced).

Reference: no number. The run's curves are plotted live and are not in the dump; the
notebook's text after it: "Batch normalization seems to perform better and is a bit more
stable, although its validation loss increases with time."
The notebook reports a duration of 299.66 s on a Colab GPU (torch 1.6). Noise: The
notebook repeats no run; its introduction says only "(results may slightly vary with
different runs)".
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
