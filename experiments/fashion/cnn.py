"""Notebook 001: the default CNN on Fashion-MNIST with main()'s recipe (SGD weight_decay 0.04, 1 epoch).

    jaxmnist train fashion/cnn --workdir workdirs/fashion/cnn

CNN (cell In [3]): conv5(16) ReLU MaxPool2d(2), conv3(32) ReLU MaxPool2d(2), fc 800->128 ReLU,
fc 128->10, log_softmax; kaiming_normal_ weights (fc2 with nonlinearity='linear').

The notebook prints no run of this model: main() builds CNN3 only (cell In [13]). This
run uses main()'s recipe unchanged, for comparison with fashion/cnn3: Fashion-MNIST, batch
64, train shuffled, test not (batch 64), Normalize(0.1307, 0.3081) (MNIST's statistics, as
main() does) on train and test, SGD lr 1e-3 momentum 0.9 weight_decay 0.04, F.nll_loss,
1 epoch, seed 0.

Reference: none; the notebook prints no run of CNN.
"""

from jaxmnist import recipes


def get_config():
    config = recipes.fashion("cnn")
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_001}: not run in the notebook (main() trains CNN3 only)",
        split="test", reduce="final", value=None,
        text="(not run in the notebook)",
        notes="No reference number: the notebook's printed run is CNN3's.")
    return config
