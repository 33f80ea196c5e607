"""Notebook 000, cell In [19]: BN_Kamming — Best_Net_BN with kaiming_uniform_ weights; 20 epochs.

    jaxmnist train activations/bn_kaiming --workdir workdirs/activations/bn_kaiming

BatchNorm's weight starts from U(0, 1), as in the notebook's PyTorch (<= 1.1), which its first
epochs show; `--set "model_overrides={}"` starts it at 1, as PyTorch has since 1.2.

Reference: 98.20% at epoch 16, "Test set: Average loss: 0.0532, Accuracy: 9820/10000 (98%)";
the output stops after the test lines of 16 of the 20 epochs (the 17th is cut).
"""

from jaxmnist import recipes

# (average test loss, correct of 10,000) printed after epochs 1..16; the output stops there.
PRINTED_TEST_LINES = [
    (0.2233, 9379), (0.1507, 9571), (0.1232, 9660), (0.1032, 9698), (0.0910, 9733), (0.0830, 9749),
    (0.0767, 9767), (0.0727, 9779), (0.0678, 9784), (0.0648, 9803), (0.0599, 9808), (0.0589, 9800),
    (0.0578, 9809), (0.0556, 9814), (0.0541, 9821), (0.0532, 9820),
]


def get_config():
    config = recipes.activations("bn_kaiming", model_overrides=recipes.NOTEBOOK_000_BATCH_NORM)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_000}, cell In [19] output (epochs 1-16 of 20 printed)",
        split="test", reduce="epoch", epoch=16, value=98.2,
        text="Test set: Average loss: 0.0532, Accuracy: 9820/10000 (98%)",
        curves={"test": recipes.printed_epochs(PRINTED_TEST_LINES)},
        notes="Output cut after the 16th of 20 epochs: the 17th test line is truncated.",
        noise="No repeated run and no seed in the notebook: its run-to-run noise is unknown.")
    return config
