"""One training loop for every experiment: `train_and_evaluate(config, workdir)`.

As in Flax's examples, `train_step` and `eval_step` are small pure functions of
(state, batch); an experiment is only a config. Keys for dropout and
augmentation are derived from (seed, step) with `fold_in`, never kept as hidden
state, so any step can be recomputed.
"""

import functools
import json
import math
import time
from pathlib import Path
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from tqdm import tqdm

from jaxmnist import config as config_lib
from jaxmnist import models, optim
from jaxmnist.data import pipeline
from jaxmnist.errors import UserError

LOSSES = ("nll", "cross_entropy", "cross_entropy_on_probabilities")


class TrainState(flax.struct.PyTreeNode):
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any


def per_example_loss(outputs: jax.Array, labels: jax.Array, loss: str) -> jax.Array:
    """The notebook's criterion per example.

    'nll': F.nll_loss on log-probabilities; 'cross_entropy': nn.CrossEntropyLoss on
    logits; 'cross_entropy_on_probabilities': notebook 004's quirk of feeding softmax
    outputs to CrossEntropyLoss (a second softmax inside the loss; its loss never
    goes below ~1.46), reproduced so its numbers can be compared.
    """
    if loss == "nll":
        log_probabilities = outputs
    elif loss in ("cross_entropy", "cross_entropy_on_probabilities"):
        log_probabilities = jax.nn.log_softmax(outputs)
    else:
        raise UserError(f"unknown loss '{loss}' (known: {', '.join(LOSSES)})")
    return -jnp.take_along_axis(log_probabilities, labels[:, None], axis=1)[:, 0]


def _batch_metrics(outputs, labels, mask, loss_name):
    losses = per_example_loss(outputs, labels, loss_name)
    correct = (jnp.argmax(outputs, axis=1) == labels) & mask
    return {"loss_sum": jnp.sum(jnp.where(mask, losses, 0.0)), "correct": jnp.sum(correct),
            "count": jnp.sum(mask)}


def train_step(state: TrainState, images, labels, dropout_key, *, module, tx, loss_name):
    """One optimizer update on one batch; returns the new state and the batch's metric sums."""

    def loss_fn(params):
        variables = {"params": params}
        if state.batch_stats is not None:
            variables["batch_stats"] = state.batch_stats
        outputs, updates = module.apply(variables, images, train=True, rngs={"dropout": dropout_key},
                                        mutable=["batch_stats"] if state.batch_stats is not None else [])
        return per_example_loss(outputs, labels, loss_name).mean(), (outputs, updates)

    (_, (outputs, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    param_updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, param_updates),
                              batch_stats=updates.get("batch_stats", state.batch_stats), opt_state=opt_state)
    metrics = _batch_metrics(outputs, labels, jnp.ones_like(labels, dtype=bool), loss_name)
    metrics["learning_rate"] = optim.current_learning_rate(opt_state)
    return new_state, metrics


def eval_step(state: TrainState, images, labels, mask, *, module, loss_name):
    variables = {"params": state.params}
    if state.batch_stats is not None:
        variables["batch_stats"] = state.batch_stats
    return _batch_metrics(module.apply(variables, images, train=False), labels, mask, loss_name)


def create_train_state(config: ml_collections.ConfigDict, module, tx) -> TrainState:
    variables = models.init_variables(module, jax.random.fold_in(jax.random.key(config.seed), 0))
    return TrainState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                      batch_stats=variables.get("batch_stats"), opt_state=tx.init(variables["params"]))


def _summarise(sums: dict) -> dict:
    count = int(sums["count"])
    return {"loss": float(sums["loss_sum"]) / count, "accuracy": 100.0 * int(sums["correct"]) / count,
            "correct": int(sums["correct"]), "total": count}


def evaluate(state, split: pipeline.Split, make_batch, step_fn, batch_size: int) -> dict:
    totals = None
    for indices, mask in pipeline.eval_batches(len(split.labels), batch_size):
        images, labels = make_batch(split, indices, jax.random.key(0))
        sums = step_fn(state, images, labels, jnp.asarray(mask))
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    return _summarise(totals)


def _print_row(row: dict, eval_names: list[str], header: bool):
    columns = ["epoch", "train loss", "train acc"]
    for name in eval_names:
        columns += [f"{name} loss", f"{name} acc"]
    columns += ["lr", "seconds"]
    widths = [max(len(column), 9) for column in columns]
    if header:
        tqdm.write(" | ".join(column.rjust(width) for column, width in zip(columns, widths)))
    values = [str(row["epoch"]), f"{row['train']['loss']:.4f}", f"{row['train']['accuracy']:.2f}%"]
    for name in eval_names:
        values += [f"{row[name]['loss']:.4f}", f"{row[name]['accuracy']:.2f}%"]
    values += [f"{row['learning_rate']:.3g}", f"{row['seconds']:.1f}"]
    tqdm.write(" | ".join(value.rjust(width) for value, width in zip(values, widths)))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Train `config` from scratch, evaluating every epoch; write DIR/config.json and DIR/metrics.jsonl."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))

    train_split = pipeline.load(config.dataset, config.train_split, config.get("data_dir"),
                                config.get("data_source"), limit=config.get("limit_train"))
    eval_splits = {name: pipeline.load(config.dataset, spec.split, config.get("data_dir"), config.get("data_source"))
                   for name, spec in config.eval.items()}
    train_stats = pipeline.pixel_stats(train_split)
    make_train_batch = pipeline.batch_fn(config.train_pp, train_stats)
    make_eval_batch = {name: pipeline.batch_fn(spec.pp, train_stats) for name, spec in config.eval.items()}

    module = models.create(config.model, **config.get("model_overrides", {}))
    tx = optim.create_optimizer(config)
    state = create_train_state(config, module, tx)
    train_fn = jax.jit(functools.partial(train_step, module=module, tx=tx, loss_name=config.loss),
                       donate_argnums=0)
    eval_fn = jax.jit(functools.partial(eval_step, module=module, loss_name=config.loss))
    dropout_root = jax.random.fold_in(jax.random.key(config.seed), 1)
    augment_root = jax.random.fold_in(jax.random.key(config.seed), 2)

    history = []
    with (workdir / "metrics.jsonl").open("w") as metrics_file:
        for epoch in range(1, config.epochs + 1):
            started = time.time()
            batches = pipeline.train_batches(len(train_split.labels), config.batch_size, config.seed, epoch,
                                             config.shuffle)
            totals = None
            progress = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", leave=False, unit="batch",
                            dynamic_ncols=True)
            for batch_number, indices in enumerate(progress):
                step = int(state.step)
                images, labels = make_train_batch(train_split, indices, jax.random.fold_in(augment_root, step))
                state, sums = train_fn(state, images, labels, jax.random.fold_in(dropout_root, step))
                totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
                if batch_number % 50 == 0:  # fetching metrics synchronises with the device: not every step
                    live = _summarise(totals)
                    progress.set_postfix(loss=f"{live['loss']:.4f}", acc=f"{live['accuracy']:.2f}%")
            row = {"epoch": epoch, "step": int(state.step), "train": _summarise(totals),
                   "learning_rate": float(sums["learning_rate"])}
            for name, split in eval_splits.items():
                row[name] = evaluate(state, split, make_eval_batch[name], eval_fn, config.eval_batch_size)
            row["seconds"] = time.time() - started
            if not math.isfinite(row["train"]["loss"]):
                raise UserError(f"non-finite training loss in epoch {epoch} (step {row['step']}); stopping")
            _print_row(row, list(eval_splits), header=epoch == 1)
            metrics_file.write(json.dumps(row) + "\n")
            metrics_file.flush()
            history.append(row)
    return history[-1]


def train_command(args) -> int:
    config = config_lib.load_experiment(args.experiment)
    config_lib.apply_overrides(config, args.set)
    with config.unlocked():
        if args.epochs is not None:
            config.epochs = args.epochs
            config.shortened = True
        if args.limit_train is not None:
            config.limit_train = args.limit_train
            config.shortened = True
        config.data_dir = args.data_dir
        config.data_source = args.data_source
    final = train_and_evaluate(config, args.workdir)
    summary = ", ".join(f"{name} accuracy {final[name]['accuracy']:.2f}% ({final[name]['correct']}/"
                        f"{final[name]['total']})" for name in config.eval)
    note = " [shortened run: not a reproduction]" if config.get("shortened") else ""
    print(f"{config.experiment}: after {final['epoch']} epochs, {summary}{note}")
    return 0
