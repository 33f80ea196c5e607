"""What evaluate and predict share: a loaded model's outputs on every example of a split.

`eval_spec` says which preprocessing a split gets (with the training split's pixel statistics,
`preprocessing`), `eval_key` the key training evaluates with after a step, and `model_outputs`
computes the outputs per batch as the train loop's evaluation computes them.
"""

import functools

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

from jaxmnist import models
from jaxmnist.data import augment, pipeline
from jaxmnist.inference.load import LoadedModel
from jaxmnist.train.steps import DATA_AXIS, device_batch, model_variables, padded_rows


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

def _split_outputs(state, split, batch_indices, rows, key, *, preprocess, module, train_mode):
    """The model's outputs on a block of evaluation batches, computed as train.steps.eval_step computes them
    (same batch keys, same dropout keys in train mode); runs per device inside shard_map."""

    def one_batch(_, batch):
        index, batch_rows = batch
        batch_key = jax.random.fold_in(key, index)
        images, _, mask = device_batch(batch_rows, split, preprocess, batch_key)
        variables = model_variables(state, state.params)
        if not train_mode:
            return None, module.apply(variables, images, train=False)
        device_key = jax.random.fold_in(batch_key, jax.lax.axis_index(DATA_AXIS))
        with models.batch_statistics_over(mask):
            outputs, _ = module.apply(variables, images, train=True, rngs={"dropout": device_key},
                                      mutable=["batch_stats"])
        return None, outputs

    return jax.lax.scan(one_batch, None, (batch_indices, rows))[1]


def model_outputs(loaded: LoadedModel, split: pipeline.Split, preprocess, key, batch_size: int,
                  train_mode: bool = False) -> np.ndarray:
    """(N, classes) outputs of the model on every example of `split`, in order."""
    programs = loaded.programs
    program = jax.jit(jax.shard_map(
        programs.traced_for_backend(functools.partial(_split_outputs, preprocess=preprocess, module=programs.module,
                                                      train_mode=train_mode)),
        mesh=programs.mesh, in_specs=(P(), P(), P(), P(None, DATA_AXIS), P()),
        out_specs=P(None, DATA_AXIS)))
    rows = padded_rows(np.arange(len(split.labels)), batch_size, programs.mesh.size)
    outputs = np.asarray(program(loaded.state, programs.replicate(split),
                                 programs.replicate(np.arange(len(rows), dtype=np.int32)), programs.put_rows(rows),
                                 key))
    by_example = np.empty((len(split.labels), outputs.shape[-1]), np.float32)
    valid = rows >= 0
    by_example[rows[valid]] = outputs[valid]
    return by_example


def eval_key(config, step: int | None):
    """The key training evaluates with after `step` (it matters for random or train-mode evaluation)."""
    eval_root = jax.random.fold_in(jax.random.key(config.seed), 3)  # as CompiledPrograms.key_roots derives it
    return jax.random.fold_in(eval_root, step or 0)
