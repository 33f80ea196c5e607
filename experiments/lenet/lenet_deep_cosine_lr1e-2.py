"""Notebook 003: LeNetDeep, cosine annealing (T_max 1000) from lr 1e-2, 50 epochs.

    jaxmnist train lenet/lenet_deep_cosine_lr1e-2 --workdir workdirs/lenet/lenet_deep_cosine_lr1e-2

Where: section "Cosine annealing rate", first run. Model and data: LeNetDeep, no
augmentation, CosineAnnealingLR(T_max=1000) from lr 1e-2.

Recipe (`generate_data(batch_size=100)` + `train_test_MNIST`): MNIST; the first 48,000
training images in file order train (ChunkSampler: never shuffled), the last 12,000 are
the validation split, the 10,000 test images give the accuracy; all three loaders use
batch 100. ToTensor only, no normalisation, for every split. nn.CrossEntropyLoss on the
logits, Adam lr 1e-2, CosineAnnealingLR(T_max=1000) stepped after every batch, 50
epochs, seed 1234 (torch's stream is not reproduced).

Reference: no number. The run's curves are plotted live and are not in the dump; the
notebook's text after it: "The maximal learning rate seems too large to visualize a
steady long-term increase in accuracy."
The notebook reports a duration of 364.01 s on a Colab GPU (torch 1.6). Noise: The
notebook repeats no run; its introduction says only "(results may slightly vary with
different runs)".
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=50, learning_rate=1e-2,
        schedule={"name": "cosine", "t_max": 1000})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Cosine annealing rate', first run",
        split="test", reduce="max", value=None,
        text='The maximal learning rate seems too large to visualize a steady long-term increase in accuracy.',
        notes='Only qualitative text after the run; its curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=364.01)
    return config
