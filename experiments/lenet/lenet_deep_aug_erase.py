"""Notebook 003: LeNetDeep + crop/rotation/erasing, 100 epochs.

    jaxmnist train lenet/lenet_deep_aug_erase --workdir workdirs/lenet/lenet_deep_aug_erase

Section "Data Augmentation", second `mnist_aug` (Normalize commented out).

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"Although both losses steadily decrease, the progress in accuracy is slow and appears to
encounter a resistance at still low values." The notebook took 1792.98 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=100, learning_rate=1e-2, train_pp=recipes.AUG_003_ERASE)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Data Augmentation', second `mnist_aug` (Normalize commented out)",
        split="test", reduce="final", value=None,
        text=('Although both losses steadily decrease, the progress in accuracy is slow and appears to '
              'encounter a resistance at still low values.'),
        notes=('Only qualitative text after the run; its curves are not in the dump. The validation split is '
               'augmented like the training split (reproduced).'),
        noise=recipes.NOISE_003,
        notebook_seconds=1792.98)
    return config
