"""Notebook 000, cell In [18]: BN_Xavier — Best_Net_BN with xavier_uniform_ weights; 20 epochs.

    jaxmnist train activations/bn_xavier --workdir workdirs/activations/bn_xavier

BatchNorm's weight starts from U(0, 1), as in the notebook's PyTorch (<= 1.1), which its first
epochs show; `--set "model_overrides={}"` starts it at 1, as PyTorch has since 1.2.

Notebook text: "Xavier + BN gave the best result so far within 20 epochs".

Reference: 98.57% at epoch 16, "Test set: Average loss: 0.0416, Accuracy: 9857/10000 (99%)";
the output stops after the test lines of 16 of the 20 epochs (the 17th is cut).
"""

from jaxmnist import recipes

# (average test loss, correct of 10,000) printed after epochs 1..16; the output stops there.
PRINTED_TEST_LINES = [
    (0.1933, 9493), (0.1250, 9650), (0.0989, 9714), (0.0848, 9745), (0.0746, 9775), (0.0674, 9788),
    (0.0619, 9808), (0.0571, 9819), (0.0561, 9813), (0.0525, 9829), (0.0501, 9842), (0.0485, 9843),
    (0.0456, 9850), (0.0449, 9852), (0.0439, 9856), (0.0416, 9857),
]


def get_config():
    config = recipes.activations("bn_xavier", model_overrides=recipes.NOTEBOOK_000_BATCH_NORM)
    config.reference = recipes.reference(
        source=f"{recipes.NOTEBOOK_000}, cell In [18] output (epochs 1-16 of 20 printed)",
        split="test", reduce="epoch", epoch=16, value=98.57,
        text="Test set: Average loss: 0.0416, Accuracy: 9857/10000 (99%)",
        curves={"test": recipes.printed_epochs(PRINTED_TEST_LINES)},
        notes="Output cut after the 16th of 20 epochs: the 17th test line is truncated.",
        noise="No repeated run and no seed in the notebook: its run-to-run noise is unknown.")
    return config
