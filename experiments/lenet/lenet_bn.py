"""Notebook 003: LeNetBN (BatchNorm), 10 epochs.

    jaxmnist train lenet/lenet_bn --workdir workdirs/lenet/lenet_bn

Where: section "Addition of Batch Normalization". Model and data: LeNetBN (LeNet +
BatchNorm2d after each conv, 29,034 parameters).

Recipe (`generate_data(batch_size=100)` + `train_test_MNIST`): MNIST; the first 48,000
training images in file order train (ChunkSampler: never shuffled), the last 12,000 are
the validation split, the 10,000 test images give the accuracy; all three loaders use
batch 100. ToTensor only, no normalisation, for every split. nn.CrossEntropyLoss on the
logits, Adam lr 1e-2, 10 epochs, seed 1234 (torch's stream is not reproduced).

Reference: no number. The run's curves are plotted live and are not in the dump; the
notebook's text after it: "We easily reach accuracies of 98.5-99% over ten epochs."
The notebook reports a duration of 58.07 s on a Colab GPU (torch 1.6). Noise: The
notebook repeats no run; its introduction says only "(results may slightly vary with
different runs)".
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
