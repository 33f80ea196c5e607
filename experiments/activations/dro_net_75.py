"""Notebook 000, cell In [12]: DrO_Net(prob=0.75) — Def_Net + Dropout(0.75) after fc1; 20 epochs.

    jaxmnist train activations/dro_net_75 --workdir workdirs/activations/dro_net_75

Reference: 97.92% at epoch 16, "Test set: Average loss: 0.0660, Accuracy: 9792/10000 (98%)";
the output stops after the test lines of 16 of the 20 epochs (the 17th is cut).
"""

from jaxmnist import recipes

# (average test loss, correct of 10,000) printed after epochs 1..16; the output stops there.
PRINTED_TEST_LINES = [
    (0.5469, 8742), (0.3003, 9191), (0.2224, 9375), (0.1792, 9489), (0.1531, 9551), (0.1352, 9585),
    (0.1233, 9624), (0.1095, 9655), (0.0990, 9688), (0.0921, 9706), (0.0872, 9721), (0.0812, 9750),
    (0.0758, 9762), (0.0720, 9770), (0.0690, 9784), (0.0660, 9792),
]


def get_config():
    config = recipes.activations("dro_net", model_overrides={'dropout_rate': 0.75})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_000}, cell In [12] output (epochs 1-16 of 20 printed)",
        split="test", reduce="epoch", epoch=16, value=97.92,
        text="Test set: Average loss: 0.0660, Accuracy: 9792/10000 (98%)",
        curves={"test": recipes.printed_epochs(PRINTED_TEST_LINES)},
        notes="Output cut after the 16th of 20 epochs: the 17th test line is truncated.",
        noise="No repeated run and no seed in the notebook: its run-to-run noise is unknown.")
    return config
