"""Notebook 003: LeNetDeep + augmentation, CyclicLR triangular, step_size_up 2500, 100 epochs.

    jaxmnist train lenet/lenet_deep_triangular_2500 --workdir workdirs/lenet/lenet_deep_triangular_2500

Section "Triangular learning rate", first run: the third augmentation, batch 250,
CyclicLR(base_lr=1e-4, max_lr=1e-3, step_size_up=10*250=2500, mode='triangular', cycle_momentum=False).

Reference: "The maximal accuracy reached is: 99.55%.", `max(ah)`, the maximum over the 100 epochs of
the test accuracy. The notebook took 1112.25 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=100, learning_rate=1e-3, batch_size=250, train_pp=recipes.AUG_003,
        schedule={"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 2500,
                  "mode": "triangular", "cycle_momentum": False})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Triangular learning rate', first run",
        split="test", reduce="max", value=99.55,
        text='The maximal accuracy reached is: 99.55%.',
        notes=('Only the maximum is printed; the per-epoch curves are not in the dump. The validation split is '
               'augmented like the training split (reproduced).'),
        noise=recipes.NOISE_003,
        notebook_seconds=1112.25)
    return config
