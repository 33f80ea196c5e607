"""Notebook 003: LeNetDeep, cosine annealing (T_max 1000) from lr 1e-2, 50 epochs.

    jaxmnist train lenet/lenet_deep_cosine_lr1e-2 --workdir workdirs/lenet/lenet_deep_cosine_lr1e-2

Section "Cosine annealing rate", first run; no augmentation.

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"The maximal learning rate seems too large to visualize a steady long-term increase in
accuracy." The notebook took 364.01 s.
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
