"""Notebook 003: LeNetDeep + augmentation, warm restarts T_0=250 T_mult=2, 100 epochs.

    jaxmnist train lenet/lenet_deep_warm_restarts --workdir workdirs/lenet/lenet_deep_warm_restarts

Section "Cosine annealing with warm restarts": the third augmentation, batch 250,
CosineAnnealingWarmRestarts(T_0=250, T_mult=2) from lr 1e-3.

Reference: "The maximal accuracy reached is: 99.51%.", `max(ah)`, the maximum over the 100 epochs of
the test accuracy. The notebook took 1114.43 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=100, learning_rate=1e-3, batch_size=250, train_pp=recipes.AUG_003,
        schedule={"name": "warm_restarts", "t_0": 250, "t_mult": 2})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Cosine annealing with warm restarts'",
        split="test", reduce="max", value=99.51,
        text='The maximal accuracy reached is: 99.51%.',
        notes=('Only the maximum is printed; the per-epoch curves are not in the dump. The validation split is '
               'augmented like the training split (reproduced).'),
        noise=recipes.NOISE_003,
        notebook_seconds=1114.43)
    return config
