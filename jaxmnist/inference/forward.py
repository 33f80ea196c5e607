"""What evaluate and predict share: a loaded model's outputs on every example of a split.

`eval_spec` says which preprocessing a split gets (with the training split's pixel statistics,
`preprocessing`), and `model_outputs` computes the outputs per batch as the train loop's
evaluation computes them (`jaxmnist.train.steps.eval_outputs`, keyed by `steps.eval_key`).
"""

import numpy as np

from jaxmnist.data import augment, batches, pipeline
from jaxmnist.inference.load import LoadedModel


# --- data and preprocessing ---------------------------------------------------------------------

def training_split(config) -> pipeline.Split:
    return pipeline.load(config.dataset, config.train_split, config.get("data_dir"), config.get("data_source"),
                         limit=config.get("limit_train"))


def eval_spec(config, split: str) -> tuple[str, str, bool]:
    """(dataset split, preprocessing spec, train mode) of `split`: one of the config's eval names, or a
    split of the dataset such as 'train[48000:]', evaluated as the config's 'test' eval (else its first)."""
    if split in config.eval:
        spec = config.eval[split]
        return spec["split"], spec["pp"], bool(spec.get("train_mode", False))
    base = config.eval["test"] if "test" in config.eval else next(iter(config.eval.values()))
    return split, base["pp"], bool(base.get("train_mode", False))


def preprocessing(spec: str, train_split: pipeline.Split):
    """The compiled spec, with the training split's pixel statistics as training had them."""
    return augment.parse(spec, pipeline.pixel_stats(train_split))


# --- running the model ------------------------------------------------------------------------

def model_outputs(loaded: LoadedModel, split: pipeline.Split, preprocess, key, batch_size: int,
                  train_mode: bool = False) -> np.ndarray:
    """(N, classes) outputs of the model on every example of `split`, in order."""
    programs = loaded.programs
    rows = batches.padded_rows(np.arange(len(split.labels)), batch_size, programs.mesh.size)
    program = programs.outputs_program(preprocess, train_mode)
    outputs = np.asarray(program(loaded.state, programs.replicate(split),
                                 programs.replicate(np.arange(len(rows), dtype=np.int32)), programs.put_rows(rows),
                                 key))
    by_example = np.empty((len(split.labels), outputs.shape[-1]), np.float32)
    valid = rows >= 0
    by_example[rows[valid]] = outputs[valid]
    return by_example
