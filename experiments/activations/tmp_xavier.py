"""Notebook 000, cell In [21]: TmpXavier — Def_Net with xavier_uniform_ weights, no BatchNorm; 20 epochs.

    jaxmnist train activations/tmp_xavier --workdir workdirs/activations/tmp_xavier

Reference: 98.31% at epoch 16, "Test set: Average loss: 0.0570, Accuracy: 9831/10000 (98%)";
the output stops after the test lines of 16 of the 20 epochs (the 17th is cut).
"""

from jaxmnist import recipes

# (average test loss, correct of 10,000) printed after epochs 1..16; the output stops there.
PRINTED_TEST_LINES = [
    (0.2906, 9160), (0.1933, 9433), (0.1549, 9545), (0.1262, 9623), (0.1102, 9663), (0.0944, 9743),
    (0.0891, 9751), (0.0819, 9777), (0.0824, 9760), (0.0741, 9796), (0.0686, 9790), (0.0657, 9812),
    (0.0647, 9802), (0.0594, 9818), (0.0559, 9831), (0.0570, 9831),
]


def get_config():
    config = recipes.activations("tmp_xavier")
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_000}, cell In [21] output (epochs 1-16 of 20 printed)",
        split="test", reduce="epoch", epoch=16, value=98.31,
        text="Test set: Average loss: 0.0570, Accuracy: 9831/10000 (98%)",
        curves={"test": recipes.printed_epochs(PRINTED_TEST_LINES)},
        notes="Output cut after the 16th of 20 epochs: the 17th test line is truncated.",
        noise="No repeated run and no seed in the notebook: its run-to-run noise is unknown.")
    return config
