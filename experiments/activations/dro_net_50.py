"""Notebook 000, cell In [11]: DrO_Net(prob=0.5) — Def_Net + Dropout(0.5) after fc1; 20 epochs.

    jaxmnist train activations/dro_net_50 --workdir workdirs/activations/dro_net_50

Notebook text: "the architecturure with 50% dropout performed the best" (of the dropout runs).

Reference: 98.21% at epoch 16, "Test set: Average loss: 0.0584, Accuracy: 9821/10000 (98%)";
the output stops after the test lines of 16 of the 20 epochs (the 17th is cut).
"""

from jaxmnist import recipes

# (average test loss, correct of 10,000) printed after epochs 1..16; the output stops there.
PRINTED_TEST_LINES = [
    (0.5589, 8689), (0.2878, 9211), (0.2110, 9421), (0.1654, 9542), (0.1394, 9609), (0.1215, 9638),
    (0.1047, 9702), (0.0955, 9727), (0.0875, 9748), (0.0811, 9771), (0.0749, 9779), (0.0708, 9787),
    (0.0677, 9795), (0.0650, 9807), (0.0614, 9808), (0.0584, 9821),
]


def get_config():
    config = recipes.activations("dro_net", model_overrides={'dropout_rate': 0.5})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_000}, cell In [11] output (epochs 1-16 of 20 printed)",
        split="test", reduce="epoch", epoch=16, value=98.21,
        text="Test set: Average loss: 0.0584, Accuracy: 9821/10000 (98%)",
        curves={"test": recipes.printed_epochs(PRINTED_TEST_LINES)},
        notes="Output cut after the 16th of 20 epochs: the 17th test line is truncated.",
        noise="No repeated run and no seed in the notebook: its run-to-run noise is unknown.")
    return config
