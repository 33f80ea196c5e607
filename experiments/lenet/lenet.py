"""Notebook 003: LeNet, Adam lr 1e-2, batch 100, 10 epochs, no augmentation.

    jaxmnist train lenet/lenet --workdir workdirs/lenet/lenet

Where: section "LeNet". Model and data: LeNet (2 conv5 blocks of 16 and 32 channels +
Linear, 28,938 parameters).

Recipe (`generate_data(batch_size=100)` + `train_test_MNIST`): MNIST; the first 48,000
training images in file order train (ChunkSampler: never shuffled), the last 12,000 are
the validation split, the 10,000 test images give the accuracy; all three loaders use
batch 100. ToTensor only, no normalisation, for every split. nn.CrossEntropyLoss on the
logits, Adam lr 1e-2, 10 epochs, seed 1234 (torch's stream is not reproduced).

Reference: no number. The run's curves are plotted live and are not in the dump; the
notebook's text after it: "The accuracy is about 98%."
The notebook reports a duration of 55.77 s on a Colab GPU (torch 1.6). Noise: The
notebook repeats no run; its introduction says only "(results may slightly vary with
different runs)".
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet", epochs=10, learning_rate=1e-2)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'LeNet'",
        split="test", reduce="final", value=None,
        text='The accuracy is about 98%.',
        notes='Only qualitative text after the run; its curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=55.77)
    return config
