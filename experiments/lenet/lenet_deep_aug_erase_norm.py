"""Notebook 003: LeNetDeep + crop/rotation/erasing + Normalize(0.5, 0.5), 20 epochs.

    jaxmnist train lenet/lenet_deep_aug_erase_norm --workdir workdirs/lenet/lenet_deep_aug_erase_norm

Section "Data Augmentation", first `mnist_aug`. Normalize((0.5,), (0.5,)) is part of the training
transform only: the model trains (and is validated) on images in [-1, 1] but is tested on
ToTensor images in [0, 1]. Reproduced; it likely explains the "strongly unstable" test accuracy.

Reference: no number; the curves are plotted live and are not in the dump. The text after the run:
"Although both the training and validation loss appear to be steadily decreasing (albeit
with higher values than models without augmentation), the test accuracy is strongly unstable."
The notebook took 349.87 s.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.lenet(
        "lenet_deep", epochs=20, learning_rate=1e-2, train_pp=recipes.AUG_003_ERASE_NORMALIZE)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_003}, section 'Data Augmentation', first `mnist_aug`",
        split="test", reduce="final", value=None,
        text=('Although both the training and validation loss appear to be steadily decreasing (albeit with '
              'higher values than models without augmentation), the test accuracy is strongly unstable.'),
        notes=('Only qualitative text after the run; its curves are not in the dump. Trained on Normalize(0.5, '
               '0.5) images, tested on unnormalised ones (reproduced). The validation split is augmented like '
               'the training split (reproduced).'),
        noise=recipes.NOISE_003,
        notebook_seconds=349.87)
    return config
