"""Notebook 003: LeNetDeep + crop (0.8-1.2)/rotation, 100 epochs.

    jaxmnist train lenet/lenet_deep_aug --workdir workdirs/lenet/lenet_deep_aug

Section "Data Augmentation", third `mnist_aug` (RandomErasing removed).

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"We reach accuracies comparable to that of LeNetDeep without data augmentation, despite
using more epochs." The notebook took 1233.00 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=100, learning_rate=1e-2, train_pp=recipes.AUG_003)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Data Augmentation', third `mnist_aug` (RandomErasing removed)",
        split="test", reduce="final", value=None,
        text=('We reach accuracies comparable to that of LeNetDeep without data augmentation, despite using '
              'more epochs.'),
        notes=('Only qualitative text after the run; its curves are not in the dump. The validation split is '
               'augmented like the training split (reproduced).'),
        noise=recipes.NOISE_003,
        notebook_seconds=1233.0)
    return config
