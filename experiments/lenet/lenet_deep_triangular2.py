"""Notebook 003: LeNetDeep + augmentation, CyclicLR triangular2 up to 1e-2, 100 epochs.

    jaxmnist train lenet/lenet_deep_triangular2 --workdir workdirs/lenet/lenet_deep_triangular2

Where: section "Triangular learning rate", third run. Model and data: LeNetDeep with the
third augmentation, CyclicLR(base_lr=1e-4, max_lr=1e-2, step_size_up=2500,
mode='triangular2', cycle_momentum=False), batch 250.

Recipe (`generate_data(batch_size=250)` + `train_test_MNIST`): MNIST; the first 48,000
training images in file order train (ChunkSampler: never shuffled), the last 12,000 are
the validation split, the 10,000 test images give the accuracy; all three loaders use
batch 250. Training transform (recipes.AUG_003): RandomResizedCrop(28, scale=(0.8,
1.2)), RandomRotation(30), ToTensor. nn.CrossEntropyLoss on the logits, Adam lr 1e-2
(replaced by CyclicLR: base_lr 1e-4, max_lr 1e-2, step_size_up 2500, triangular2,
cycle_momentum=False, stepped after every batch), 100 epochs, seed 1234 (torch's stream
is not reproduced).

The validation loader reads the *training* dataset object, so the validation split
gets the training transform and is augmented too: reproduced (eval `valid` uses
train_pp). The test set gets ToTensor only.

Reference: "The maximal accuracy reached is: 99.55%." — `max(ah)`, the maximum over the
100 epochs of the test accuracy measured after each epoch: 99.55%.
The notebook reports a duration of 1114.69 s on a Colab GPU (torch 1.6). Noise: The
notebook repeats no run; its introduction says only "(results may slightly vary with
different runs)".
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=100, learning_rate=1e-2, batch_size=250, train_pp=recipes.AUG_003,
        schedule={"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-2, "step_size_up": 2500,
                  "mode": "triangular2", "cycle_momentum": False})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Triangular learning rate', third run",
        split="test", reduce="max", value=99.55,
        text='The maximal accuracy reached is: 99.55%.',
        notes=('Only the maximum is printed; the per-epoch curves are not in the dump. The validation split is '
               'augmented like the training split (reproduced).'),
        noise=recipes.NOISE_003,
        notebook_seconds=1114.69)
    return config
