"""Notebook 003: LeNetDeep + augmentation, CyclicLR triangular, step_size_up 1000, 100 epochs.

    jaxmnist train lenet/lenet_deep_triangular_1000 --workdir workdirs/lenet/lenet_deep_triangular_1000

Section "Triangular learning rate", second run: the third augmentation, batch 250,
CyclicLR(base_lr=1e-4, max_lr=1e-3, step_size_up=4*250=1000, mode='triangular', cycle_momentum=False).

Reference: "The maximal accuracy reached is: 99.58%.", `max(ah)`, the maximum over the 100 epochs of
the test accuracy. The notebook took 1109.60 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=100, learning_rate=1e-3, batch_size=250, train_pp=recipes.AUG_003,
        schedule={"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 1000,
                  "mode": "triangular", "cycle_momentum": False})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Triangular learning rate', second run",
        split="test", reduce="max", value=99.58,
        text='The maximal accuracy reached is: 99.58%.',
        notes=('Only the maximum is printed; the per-epoch curves are not in the dump. The validation split is '
               'augmented like the training split (reproduced).'),
        noise=recipes.NOISE_003,
        notebook_seconds=1109.6)
    return config
