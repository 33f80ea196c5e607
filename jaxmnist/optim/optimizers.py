"""Optimizers with torch.optim's exact semantics, their rate following a schedule (jaxmnist.optim.schedules).

Configs name them as PyTorch does (see `OPTIMIZER_DEFAULTS`):

    config.optimizer = dict(name='sgd', learning_rate=1e-3, momentum=0.5)
"""

from typing import Any, NamedTuple

import jax
import optax

from jaxmnist.errors import UserError
from jaxmnist.optim import schedules, settings
from jaxmnist.varying import varying_as

# torch.optim's defaults; `learning_rate` is the base rate that schedules scale.
OPTIMIZER_DEFAULTS = {
    "sgd": dict(learning_rate=settings.DEFAULT_LEARNING_RATE, momentum=0.0, nesterov=False, weight_decay=0.0),
    "adam": dict(learning_rate=settings.DEFAULT_LEARNING_RATE, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0),
    "adamw": dict(learning_rate=settings.DEFAULT_LEARNING_RATE, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01),
}


def _sgd(learning_rate, momentum, nesterov, weight_decay):
    """torch.optim.SGD with dampening 0: g += wd * p; buf = momentum * buf + g (buf = g at the first
    step, as optax.trace starts from zeros); p -= lr * buf, or lr * (g + momentum * buf) with Nesterov."""
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(learning_rate, momentum, nesterov))


def _adam(learning_rate, b1, b2, eps, weight_decay):
    """torch.optim.Adam: weight decay is coupled L2 (added to the gradient before the moments);
    eps is added outside the square root, with the same bias corrections as torch."""
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate, b1, b2, eps))


def _adamw(learning_rate, b1, b2, eps, weight_decay):
    """torch.optim.AdamW: p -= lr * (adam_update + wd * p), the decay decoupled from the moments."""
    return optax.adamw(learning_rate, b1, b2, eps, weight_decay=weight_decay)


def _checked_optimizer_parameters(name: str, parameters: dict) -> dict:
    checked = dict(
        learning_rate=settings.number("optimizer.learning_rate", parameters["learning_rate"], above=0),
        weight_decay=settings.number("optimizer.weight_decay", parameters["weight_decay"], minimum=0))
    if name == "sgd":
        checked["momentum"] = settings.number("optimizer.momentum", parameters["momentum"], minimum=0)
        checked["nesterov"] = settings.boolean("optimizer.nesterov", parameters["nesterov"])
        if checked["nesterov"] and checked["momentum"] == 0:
            raise UserError("optimizer.nesterov=True needs optimizer.momentum > 0 (as in torch)")
    else:
        checked["b1"] = settings.number("optimizer.b1", parameters["b1"], minimum=0, below=1)
        checked["b2"] = settings.number("optimizer.b2", parameters["b2"], minimum=0, below=1)
        checked["eps"] = settings.number("optimizer.eps", parameters["eps"], minimum=0)
    return checked


_OPTIMIZER_FACTORIES = {"sgd": _sgd, "adam": _adam, "adamw": _adamw}


def create_optimizer(config) -> optax.GradientTransformation:
    """The optimizer named by config.optimizer, its rate following config.schedule (default constant).

    The rate (and a cycled momentum) is injected with optax.inject_hyperparams, so the state (a pytree
    of arrays, safe to checkpoint) carries the step count and the rate; see `current_learning_rate`.
    """
    name, parameters = settings.resolve("optimizer", config["optimizer"], OPTIMIZER_DEFAULTS)
    parameters = _checked_optimizer_parameters(name, parameters)
    parameters["learning_rate"], momentum = schedules.rate_and_momentum(config["optimizer"], config.get("schedule"))
    if name == "sgd" and parameters["momentum"] == 0:
        parameters["momentum"] = None  # torch keeps no momentum buffer then
    if momentum is not None:  # as torch, the cycled value replaces the optimizer's momentum / beta1
        parameters["momentum" if name == "sgd" else "b1"] = momentum
    static_parameters = [key for key, value in parameters.items() if not callable(value)]
    return optax.inject_hyperparams(_OPTIMIZER_FACTORIES[name], static_args=static_parameters)(**parameters)


def current_learning_rate(opt_state) -> jax.Array:
    """The rate applied by the most recent update (before any update: the rate the first will use).

    Works on the state of `create_optimizer` and on states that nest it (optax.chain, MultiSteps...).
    """
    hyperparameters = optax.tree_utils.tree_get(opt_state, "hyperparams")
    if hyperparameters is None:
        raise ValueError("this optimizer state has no injected hyperparameters (not from create_optimizer?)")
    return hyperparameters["learning_rate"]


class ChosenState(NamedTuple):
    """The state of `one_per_run`: which optimizer this run follows, and that optimizer's state."""

    choice: jax.Array
    inner: Any


def one_per_run(optimizers: list[optax.GradientTransformation]) -> optax.GradientTransformation:
    """An optimizer that updates each run of a group with its own member of `optimizers` (e.g. the
    rates of a sweep), chosen by the `choice` its state carries. The members' states must share one
    structure; a state is built with `ChosenState(choice, optimizers[choice].init(params))`."""
    def init(params):
        return ChosenState(jax.numpy.zeros((), jax.numpy.int32), optimizers[0].init(params))

    def update(updates, state, params=None):
        # Each branch's result varies over the mesh axes its inputs do (a constant rate does not).
        branches = [lambda grads, inner, params, member=member: varying_as(member.update(grads, inner, params),
                                                                            (grads, inner))
                    for member in optimizers]
        new_updates, inner = jax.lax.switch(state.choice, branches, updates, state.inner, params)
        return new_updates, ChosenState(state.choice, inner)

    return optax.GradientTransformation(init, update)
