"""Notebook 000, cell In [10]: DrO_Net(prob=0.25) — Def_Net + Dropout(0.25) after fc1; 20 epochs.

    jaxmnist train activations/dro_net_25 --workdir workdirs/activations/dro_net_25

The cell's comment says "Dropout of 0.2 from first convolution"; the code is DrO_Net(prob=0.25),
whose dropout follows fc1: the code is reproduced.

Reference: 98.20% at epoch 16, "Test set: Average loss: 0.0598, Accuracy: 9820/10000 (98%)";
the output stops after the test lines of 16 of the 20 epochs (the 17th is cut).
"""

from jaxmnist import recipes

# (average test loss, correct of 10,000) printed after epochs 1..16; the output stops there.
PRINTED_TEST_LINES = [
    (0.5770, 8617), (0.2894, 9187), (0.2177, 9376), (0.1736, 9509), (0.1477, 9576), (0.1259, 9640),
    (0.1129, 9671), (0.1007, 9714), (0.0906, 9733), (0.0841, 9762), (0.0786, 9770), (0.0726, 9789),
    (0.0678, 9805), (0.0670, 9803), (0.0632, 9803), (0.0598, 9820),
]


def get_config():
    config = recipes.activations("dro_net", model_overrides={'dropout_rate': 0.25})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_000}, cell In [10] output (epochs 1-16 of 20 printed)",
        split="test", reduce="epoch", epoch=16, value=98.2,
        text="Test set: Average loss: 0.0598, Accuracy: 9820/10000 (98%)",
        curves={"test": recipes.printed_epochs(PRINTED_TEST_LINES)},
        notes="Output cut after the 16th of 20 epochs: the 17th test line is truncated.",
        noise="No repeated run and no seed in the notebook: its run-to-run noise is unknown.")
    return config
