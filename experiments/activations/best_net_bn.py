"""Notebook 000, cell In [16]: Best_Net_BN — Def_Net + BatchNorm2d(20) after relu(conv1); 20 epochs.

    jaxmnist train activations/best_net_bn --workdir workdirs/activations/best_net_bn

BatchNorm's weight starts from U(0, 1), as in the notebook's PyTorch (<= 1.1), which its first
epochs show; `--set "model_overrides={}"` starts it at 1, as PyTorch has since 1.2.

Reference: 98.23% at epoch 16, "Test set: Average loss: 0.0525, Accuracy: 9823/10000 (98%)";
the output stops after the test lines of 16 of the 20 epochs (the 17th is cut).
"""

from jaxmnist import recipes

# (average test loss, correct of 10,000) printed after epochs 1..16; the output stops there.
PRINTED_TEST_LINES = [
    (0.3387, 9204), (0.1951, 9459), (0.1512, 9573), (0.1262, 9622), (0.1059, 9679), (0.0950, 9696),
    (0.0868, 9735), (0.0798, 9748), (0.0749, 9758), (0.0688, 9784), (0.0654, 9783), (0.0613, 9799),
    (0.0585, 9816), (0.0559, 9823), (0.0533, 9828), (0.0525, 9823),
]


def get_config():
    config = recipes.activations("best_net_bn", model_overrides=recipes.NOTEBOOK_000_BATCH_NORM)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_000}, cell In [16] output (epochs 1-16 of 20 printed)",
        split="test", reduce="epoch", epoch=16, value=98.23,
        text="Test set: Average loss: 0.0525, Accuracy: 9823/10000 (98%)",
        curves={"test": recipes.printed_epochs(PRINTED_TEST_LINES)},
        notes="Output cut after the 16th of 20 epochs: the 17th test line is truncated.",
        noise="No repeated run and no seed in the notebook: its run-to-run noise is unknown.")
    return config
