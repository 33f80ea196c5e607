"""Notebook 003: LeNetDeep + augmentation, cosine annealing, batch 100, 50 epochs.

    jaxmnist train lenet/lenet_deep_cosine_aug_b100 --workdir workdirs/lenet/lenet_deep_cosine_aug_b100

"We now combine the cyclical learning rate with data augmentation": the third augmentation,
CosineAnnealingLR(T_max=1000) from lr 1e-3.

Reference: "The maximal accuracy reached is: 99.45%.", `max(ah)`, the maximum over the 50 epochs of
the test accuracy. The notebook took 604.51 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=50, learning_rate=1e-3, train_pp=recipes.AUG_003,
        schedule={"name": "cosine", "t_max": 1000})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, 'We now combine the cyclical learning rate with data augmentation'",
        split="test", reduce="max", value=99.45,
        text='The maximal accuracy reached is: 99.45%.',
        notes=('Only the maximum is printed; the per-epoch curves are not in the dump. The validation split is '
               'augmented like the training split (reproduced).'),
        noise=recipes.NOISE_003,
        notebook_seconds=604.51)
    return config
