"""Notebook 000, cell In [13]: DrO_Net(prob=1) — Def_Net + Dropout(1.0) after fc1; 20 epochs.

    jaxmnist train activations/dro_net_100 --workdir workdirs/activations/dro_net_100

With p = 1 torch's Dropout zeroes every fc1 unit in training, so only fc2's bias learns;
at test time dropout is off and the untrained-through fc2 weights see real activations.
Notebook text: "a dropout of 1 is messing up the network".

Reference: 14.37% at epoch 16, "Test set: Average loss: 2.3086, Accuracy: 1437/10000 (14%)";
the output stops after the test lines of 16 of the 20 epochs (the 17th is cut).
"""

from jaxmnist import recipes

# (average test loss, correct of 10,000) printed after epochs 1..16; the output stops there.
PRINTED_TEST_LINES = [
    (2.3100, 1149), (2.3097, 1148), (2.3095, 1147), (2.3093, 1241), (2.3091, 1291), (2.3090, 1340),
    (2.3089, 1383), (2.3089, 1401), (2.3088, 1416), (2.3088, 1438), (2.3087, 1430), (2.3087, 1444),
    (2.3087, 1450), (2.3087, 1445), (2.3087, 1438), (2.3086, 1437),
]


def get_config():
    config = recipes.activations("dro_net", model_overrides={'dropout_rate': 1.0})
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_000}, cell In [13] output (epochs 1-16 of 20 printed)",
        split="test", reduce="epoch", epoch=16, value=14.37,
        text="Test set: Average loss: 2.3086, Accuracy: 1437/10000 (14%)",
        curves={"test": recipes.printed_epochs(PRINTED_TEST_LINES)},
        notes="Output cut after the 16th of 20 epochs: the 17th test line is truncated.",
        noise="No repeated run and no seed in the notebook: its run-to-run noise is unknown.")
    return config
