"""Notebook 003: LeNetDeep + crop/rotation/erasing + Normalize(0.5, 0.5), 20 epochs.

    jaxmnist train lenet/lenet_deep_aug_erase_norm --workdir workdirs/lenet/lenet_deep_aug_erase_norm

Where: section "Data Augmentation", first `mnist_aug`. Model and data: LeNetDeep with
the first augmentation: RandomResizedCrop(28, scale=(0.8, 1.0)), RandomRotation(30),
ToTensor, RandomErasing(p=0.5, scale=(0.02, 0.2)), Normalize((0.5,), (0.5,)).

Recipe (`generate_data(batch_size=100)` + `train_test_MNIST`): MNIST; the first 48,000
training images in file order train (ChunkSampler: never shuffled), the last 12,000 are
the validation split, the 10,000 test images give the accuracy; all three loaders use
batch 100. Training transform (recipes.AUG_003_ERASE_NORMALIZE): RandomResizedCrop(28,
scale=(0.8, 1.0)), RandomRotation(30), ToTensor, RandomErasing(p=0.5, scale=(0.02,
0.2)), Normalize((0.5,), (0.5,)). nn.CrossEntropyLoss on the logits, Adam lr 1e-2, 20
epochs, seed 1234 (torch's stream is not reproduced). The notebook ran torchvision 0.7, whose RandomErasing draws the
box's aspect ratio uniformly in `ratio` (`uniform_ratio=True`; log-uniformly since 0.8).

The validation loader reads the *training* dataset object, so the validation split
gets the training transform and is augmented too: reproduced (eval `valid` uses
train_pp). The test set gets ToTensor only.

Normalize((0.5,), (0.5,)) is part of the training transform only: the model trains (and
is validated) on images in [-1, 1] but is tested on ToTensor images in [0, 1], because
`generate_data` gives the test set ToTensor only. Reproduced; it likely explains the
"strongly unstable" test accuracy.

Reference: no number. The run's curves are plotted live and are not in the dump; the
notebook's text after it: "Although both the training and validation loss appear to be
steadily decreasing (albeit with higher values than models without augmentation), the
test accuracy is strongly unstable."
The notebook reports a duration of 349.87 s on a Colab GPU (torch 1.6). Noise: The
notebook repeats no run; its introduction says only "(results may slightly vary with
different runs)".
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
