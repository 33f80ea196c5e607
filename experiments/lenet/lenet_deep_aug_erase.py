"""Notebook 003: LeNetDeep + crop/rotation/erasing, 100 epochs.

    jaxmnist train lenet/lenet_deep_aug_erase --workdir workdirs/lenet/lenet_deep_aug_erase

Where: section "Data Augmentation", second `mnist_aug` (Normalize commented out). Model
and data: LeNetDeep with RandomResizedCrop(28, scale=(0.8, 1.0)), RandomRotation(30),
ToTensor, RandomErasing(p=0.5, scale=(0.02, 0.2)).

Recipe (`generate_data(batch_size=100)` + `train_test_MNIST`): MNIST; the first 48,000
training images in file order train (ChunkSampler: never shuffled), the last 12,000 are
the validation split, the 10,000 test images give the accuracy; all three loaders use
batch 100. Training transform (recipes.AUG_003_ERASE): RandomResizedCrop(28, scale=(0.8,
1.0)), RandomRotation(30), ToTensor, RandomErasing(p=0.5, scale=(0.02, 0.2)).
nn.CrossEntropyLoss on the logits, Adam lr 1e-2, 100 epochs, seed 1234 (torch's stream
is not reproduced). The notebook ran torchvision 0.7, whose RandomErasing draws the
box's aspect ratio uniformly in `ratio` (`uniform_ratio=True`; log-uniformly since 0.8).

The validation loader reads the *training* dataset object, so the validation split
gets the training transform and is augmented too: reproduced (eval `valid` uses
train_pp). The test set gets ToTensor only.

Reference: no number. The run's curves are plotted live and are not in the dump; the
notebook's text after it: "Although both losses steadily decrease, the progress in
accuracy is slow and appears to encounter a resistance at still low values."
The notebook reports a duration of 1792.98 s on a Colab GPU (torch 1.6). Noise: The
notebook repeats no run; its introduction says only "(results may slightly vary with
different runs)".
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
