"""Notebook 003: LeNetDeep, cosine annealing (T_max 1000) from lr 1e-3, 50 epochs.

    jaxmnist train lenet/lenet_deep_cosine_lr1e-3 --workdir workdirs/lenet/lenet_deep_cosine_lr1e-3

Section "Cosine annealing rate", second run; no augmentation.

Reference: "The maximal accuracy reached is: 99.48%.", `max(ah)`, the maximum over the 50 epochs of
the test accuracy. The notebook took 364.05 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=50, learning_rate=1e-3,
        schedule={"name": "cosine", "t_max": 1000})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Cosine annealing rate', second run",
        split="test", reduce="max", value=99.48,
        text='The maximal accuracy reached is: 99.48%.',
        notes='Only the maximum is printed; the per-epoch curves are not in the dump.',
        noise=recipes.NOISE_003,
        notebook_seconds=364.05)
    return config
