"""Notebook 001, cell In [3]: the default CNN on Fashion-MNIST with main()'s recipe (SGD weight_decay 0.04, 1 epoch).

    jaxmnist train fashion/cnn --workdir workdirs/fashion/cnn

main() trains CNN3 only (cell In [13]); this run is its recipe with CNN, for comparison with fashion/cnn3.

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
