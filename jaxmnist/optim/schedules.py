"""Optimizers and per-step learning-rate schedules with torch.optim's exact semantics.

Configs name them as PyTorch does (see `OPTIMIZER_DEFAULTS` and `SCHEDULE_DEFAULTS`):

    config.optimizer = dict(name='sgd', learning_rate=1e-3, momentum=0.5)
    config.schedule = dict(name='cosine', t_max=1000)

Step alignment: `schedule(k)` is the rate of optimizer update k (0-based), i.e. the rate
torch's optimizer uses after k calls to `scheduler.step()` when the scheduler is stepped
once per batch, as notebook 003 does. Rates are computed in closed form in float32, in
forms chosen to stay within 1e-6 relative of torch's float64 recursions even near zero.
'cyclic' and 'one_cycle' can also cycle SGD's momentum / Adam's beta1 (cycle_momentum=True).
"""

import ast
import json
import math
import numbers
import re
import textwrap
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmnist.errors import UserError

Schedule = Callable[[jax.typing.ArrayLike], jax.Array]

_REQUIRED = object()

# torch.optim's defaults; `learning_rate` is the base rate that schedules scale.
OPTIMIZER_DEFAULTS = {
    "sgd": dict(learning_rate=1e-3, momentum=0.0, nesterov=False, weight_decay=0.0),
    "adam": dict(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0),
    "adamw": dict(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01),
}

# torch.optim.lr_scheduler's defaults, with the arguments renamed to snake case, except
# cycle_momentum: off unless asked for (torch: on), since notebook 003 turns it off and configs
# written from the notebooks' calls would otherwise cycle Adam's beta1 unasked.
SCHEDULE_DEFAULTS = {
    "constant": {},
    "cosine": dict(t_max=_REQUIRED, eta_min=0.0),
    "cyclic": dict(base_lr=_REQUIRED, max_lr=_REQUIRED, step_size_up=2000, step_size_down=None,
                   mode="triangular", gamma=1.0, cycle_momentum=False, base_momentum=0.8, max_momentum=0.9),
    "warm_restarts": dict(t_0=_REQUIRED, t_mult=1, eta_min=0.0),
    "step": dict(step_size=_REQUIRED, gamma=0.1),
    "one_cycle": dict(max_lr=_REQUIRED, total_steps=_REQUIRED, pct_start=0.3, anneal_strategy="cos",
                      div_factor=25.0, final_div_factor=1e4, three_phase=False, cycle_momentum=False,
                      base_momentum=0.85, max_momentum=0.95),
    "warmup_cosine": dict(warmup_steps=_REQUIRED, total_steps=_REQUIRED, eta_min=0.0,
                          warmup_start_factor=0.0),
}


# --- reading and checking config sections -------------------------------------------------

def _as_dict(section) -> dict:
    if section is None:
        return {}
    if hasattr(section, "to_dict"):  # ml_collections.ConfigDict
        return section.to_dict()
    if not isinstance(section, Mapping):
        raise UserError(f"expected a dict of settings, got {section!r}")
    return dict(section)


def _resolve(section_name: str, section, defaults_by_name: dict, default_name=None) -> tuple[str, dict]:
    """Return (name, parameters with defaults filled in) of a config section, or raise UserError."""
    parameters = _as_dict(section)
    name = parameters.pop("name", default_name)
    if name is None:
        raise UserError(f"{section_name}.name is required (one of: {', '.join(defaults_by_name)})")
    if name not in defaults_by_name:
        raise UserError(f"unknown {section_name}.name {name!r} "
                        f"(known: {', '.join(defaults_by_name)})")
    defaults = defaults_by_name[name]
    for key in parameters:
        if key not in defaults:
            raise UserError(f"{section_name}.{key}: {section_name} {name!r} has no parameter {key!r} "
                            f"(known: {', '.join(defaults) or 'none'})")
    resolved = {**defaults, **parameters}
    for key, value in resolved.items():
        if value is _REQUIRED:
            raise UserError(f"{section_name}.{key} is required by {section_name} {name!r}")
    return name, resolved


def _fail(key: str, requirement: str, value):
    raise UserError(f"{key} must be {requirement}, got {value!r}")


def _number(key: str, value, *, minimum=None, above=None, maximum=None, below=None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        _fail(key, "a number", value)
    if minimum is not None and value < minimum:
        _fail(key, f">= {minimum}", value)
    if above is not None and value <= above:
        _fail(key, f"> {above}", value)
    if maximum is not None and value > maximum:
        _fail(key, f"<= {maximum}", value)
    if below is not None and value >= below:
        _fail(key, f"< {below}", value)
    return float(value)


def _integer(key: str, value, *, minimum: int) -> int:
    # Integral floats are accepted because overrides such as `--set schedule.t_max=1e3` parse as floats.
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and float(value).is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        _fail(key, f"an integer >= {minimum}", value)
    return int(value)


def _choice(key: str, value, choices: tuple):
    if value not in choices:
        _fail(key, f"one of {', '.join(map(repr, choices))}", value)
    return value


def _boolean(key: str, value) -> bool:
    if not isinstance(value, bool):
        _fail(key, "True or False", value)
    return value


# --- schedules ----------------------------------------------------------------------------

def _half_cosine(remaining, period):
    """(1 + cos(pi * (period - remaining) / period)) / 2: from 1 at remaining=period to 0 at 0.

    Written as sin^2 because 1 + cos(x) cancels catastrophically in float32 near x = pi,
    exactly where the rate is smallest and relative errors matter most.
    """
    return jnp.sin(0.5 * jnp.pi * (remaining / period)) ** 2


def _power(base: float, exponent):
    # A float32 `base ** exponent` loses digits as the exponent grows; log(base) in float64 keeps them.
    return jnp.exp(math.log(base) * jnp.asarray(exponent, jnp.float32))


def _constant(base_lr: float) -> Schedule:
    return lambda step: jnp.full(jnp.shape(step), base_lr, jnp.float32)


def _cosine(base_lr: float, t_max, eta_min) -> Schedule:
    """torch CosineAnnealingLR. Its recursive update is periodic with period 2 * t_max: the rate
    reaches eta_min at t_max and climbs back to base_lr at 2 * t_max (unlike optax's cosine decay)."""
    t_max = _integer("schedule.t_max", t_max, minimum=1)
    eta_min = _number("schedule.eta_min", eta_min, minimum=0)

    def schedule(step):
        steps_from_minimum = jnp.abs(jnp.asarray(step) % (2 * t_max) - t_max)
        return eta_min + (base_lr - eta_min) * _half_cosine(steps_from_minimum, t_max)

    return schedule


def _warm_restarts(base_lr: float, t_0, t_mult, eta_min) -> Schedule:
    """torch CosineAnnealingWarmRestarts: cosine from base_lr towards eta_min over t_0 steps,
    then restart at base_lr with the period multiplied by t_mult."""
    t_0 = _integer("schedule.t_0", t_0, minimum=1)
    t_mult = _integer("schedule.t_mult", t_mult, minimum=1)
    eta_min = _number("schedule.eta_min", eta_min, minimum=0)
    if t_mult == 1:
        def position_and_period(step):
            return step % t_0, t_0
    else:
        # Cycles grow geometrically, so every cycle that starts within the int32 step range fits in a
        # short table; a lookup keeps the step traceable (no Python control flow on it).
        cycle_starts, periods = [0], [t_0]
        while cycle_starts[-1] + periods[-1] < 2**31:
            cycle_starts.append(cycle_starts[-1] + periods[-1])
            periods.append(periods[-1] * t_mult)
        cycle_starts = jnp.asarray(cycle_starts, jnp.int32)
        periods = jnp.asarray(periods, jnp.float32)

        def position_and_period(step):
            cycle = jnp.searchsorted(cycle_starts, step, side="right") - 1
            return step - cycle_starts[cycle], periods[cycle]

    def schedule(step):
        position, period = position_and_period(jnp.asarray(step))
        return eta_min + (base_lr - eta_min) * _half_cosine(period - position, period)

    return schedule


def _cyclic(base_lr, max_lr, step_size_up, step_size_down, mode, gamma, cycle_momentum, base_momentum,
            max_momentum) -> tuple[Schedule, Schedule | None]:
    """torch CyclicLR, as (rate, momentum or None). It replaces the optimizer's rate: the first update
    uses base_lr, the rate rises linearly to max_lr over step_size_up steps and falls back over
    step_size_down; 'triangular2' halves the amplitude every cycle, 'exp_range' scales it by gamma**step.
    With cycle_momentum, momentum (SGD) or beta1 (Adam) moves inversely between max_momentum and
    base_momentum."""
    base_lr = _number("schedule.base_lr", base_lr, minimum=0)
    max_lr = _number("schedule.max_lr", max_lr, minimum=0)
    step_size_up = _integer("schedule.step_size_up", step_size_up, minimum=1)
    step_size_down = step_size_up if step_size_down is None else \
        _integer("schedule.step_size_down", step_size_down, minimum=1)
    mode = _choice("schedule.mode", mode, ("triangular", "triangular2", "exp_range"))
    gamma = _number("schedule.gamma", gamma, above=0)
    cycle_momentum = _boolean("schedule.cycle_momentum", cycle_momentum)
    base_momentum = _number("schedule.base_momentum", base_momentum, minimum=0, maximum=1)
    max_momentum = _number("schedule.max_momentum", max_momentum, minimum=0, maximum=1)
    cycle_length = step_size_up + step_size_down

    def amplitude_fraction(step):
        step = jnp.asarray(step)
        position = step % cycle_length
        fraction = jnp.where(position <= step_size_up, position / step_size_up,
                             (cycle_length - position) / step_size_down)
        if mode == "triangular2":
            return fraction * _power(0.5, step // cycle_length)
        if mode == "exp_range":
            return fraction * _power(gamma, step)
        return fraction

    def learning_rate(step):
        return base_lr + (max_lr - base_lr) * amplitude_fraction(step)

    def momentum(step):
        return max_momentum - (max_momentum - base_momentum) * amplitude_fraction(step)

    return learning_rate, momentum if cycle_momentum else None


def _step(base_lr: float, step_size, gamma) -> Schedule:
    """torch StepLR: the rate is multiplied by gamma every step_size steps."""
    step_size = _integer("schedule.step_size", step_size, minimum=1)
    gamma = _number("schedule.gamma", gamma, above=0)
    return lambda step: base_lr * _power(gamma, jnp.asarray(step) // step_size)


def _anneal(start_value: float, end_value: float, step, start_step: float, end_step: float, strategy: str):
    """torch OneCycleLR's annealing from start_value at start_step to end_value at end_step.

    Measured from the end with the lower value: measuring from the other end would subtract nearly
    equal float32 numbers where the rate is low, which loses the digits that matter there.
    """
    low, high = sorted((start_value, end_value))
    steps_from_low = step - start_step if start_value <= end_value else end_step - step
    fraction_from_low = steps_from_low / (end_step - start_step)
    if strategy == "cos":
        return low + (high - low) * _half_cosine(fraction_from_low, 1.0)
    return low + (high - low) * fraction_from_low


def _one_cycle(max_lr, total_steps, pct_start, anneal_strategy, div_factor, final_div_factor, three_phase,
               cycle_momentum, base_momentum, max_momentum) -> tuple[Schedule, Schedule | None]:
    """torch OneCycleLR, as (rate, momentum or None). It replaces the optimizer's rate: from
    max_lr / div_factor up to max_lr over pct_start of the run, then down to
    max_lr / div_factor / final_div_factor (three_phase: back to max_lr / div_factor first, then down).
    With cycle_momentum, momentum (SGD) or beta1 (Adam) moves inversely between max_momentum and
    base_momentum. torch raises after total_steps updates; here both hold their final values."""
    max_lr = _number("schedule.max_lr", max_lr, above=0)
    total_steps = _integer("schedule.total_steps", total_steps, minimum=1)
    pct_start = _number("schedule.pct_start", pct_start, minimum=0, maximum=1)
    anneal_strategy = _choice("schedule.anneal_strategy", anneal_strategy, ("cos", "linear"))
    div_factor = _number("schedule.div_factor", div_factor, above=0)
    final_div_factor = _number("schedule.final_div_factor", final_div_factor, above=0)
    three_phase = _boolean("schedule.three_phase", three_phase)
    cycle_momentum = _boolean("schedule.cycle_momentum", cycle_momentum)
    base_momentum = _number("schedule.base_momentum", base_momentum, minimum=0, maximum=1)
    max_momentum = _number("schedule.max_momentum", max_momentum, minimum=0, maximum=1)
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    # torch's phase boundaries are floats: the last step of each phase.
    if three_phase:
        phase_ends = [pct_start * total_steps - 1, 2 * pct_start * total_steps - 2, total_steps - 1]
        rates = [(initial_lr, max_lr), (max_lr, initial_lr), (initial_lr, min_lr)]
        momenta = [(max_momentum, base_momentum), (base_momentum, max_momentum), (max_momentum, max_momentum)]
    else:
        phase_ends = [pct_start * total_steps - 1, total_steps - 1]
        rates = [(initial_lr, max_lr), (max_lr, min_lr)]
        momenta = [(max_momentum, base_momentum), (base_momentum, max_momentum)]
    phase_starts = [0.0] + phase_ends[:-1]
    if any(end <= start for start, end in zip(phase_starts, phase_ends)):
        raise UserError(f"schedule.pct_start={pct_start} with schedule.total_steps={total_steps} "
                        "leaves a one-cycle phase without steps (torch divides by zero there)")

    def phased(values_per_phase) -> Schedule:
        def schedule(step):
            step = jnp.minimum(jnp.asarray(step), total_steps - 1)
            per_phase = [_anneal(start_value, end_value, step, start, end, anneal_strategy)
                         for (start_value, end_value), start, end in zip(values_per_phase, phase_starts, phase_ends)]
            # torch takes the first phase whose last step is not yet passed, and the last phase otherwise.
            return jnp.select([step <= end for end in phase_ends[:-1]], per_phase[:-1], per_phase[-1])

        return schedule

    return phased(rates), phased(momenta) if cycle_momentum else None


def _warmup_cosine(base_lr: float, warmup_steps, total_steps, eta_min, warmup_start_factor) -> Schedule:
    """Linear warmup from warmup_start_factor * base_lr to base_lr over warmup_steps, then cosine to
    eta_min at total_steps. The PyTorch equivalent (torch needs warmup_start_factor > 0):

        SequentialLR(optimizer, [LinearLR(optimizer, start_factor=warmup_start_factor, total_iters=warmup_steps),
                                 CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps, eta_min=eta_min)],
                     milestones=[warmup_steps])

    and, like it, the cosine part is periodic: past total_steps the rate climbs back up.
    """
    warmup_steps = _integer("schedule.warmup_steps", warmup_steps, minimum=0)
    total_steps = _integer("schedule.total_steps", total_steps, minimum=warmup_steps + 1)
    warmup_start_factor = _number("schedule.warmup_start_factor", warmup_start_factor, minimum=0, maximum=1)
    cosine = _cosine(base_lr, total_steps - warmup_steps, eta_min)

    def schedule(step):
        step = jnp.asarray(step)
        warmup_fraction = step / max(warmup_steps, 1)
        warmup = base_lr * (warmup_start_factor + (1 - warmup_start_factor) * warmup_fraction)
        return jnp.where(step < warmup_steps, warmup, cosine(step - warmup_steps))

    return schedule


# torch's cyclic schedulers: they set the optimizer's rate themselves (ignoring optimizer.learning_rate)
# and can also cycle its momentum, so their builders return (rate, momentum or None).
_CYCLES = ("cyclic", "one_cycle")

_SCHEDULE_BUILDERS = {
    "constant": _constant,
    "cosine": _cosine,
    "cyclic": _cyclic,
    "warm_restarts": _warm_restarts,
    "step": _step,
    "one_cycle": _one_cycle,
    "warmup_cosine": _warmup_cosine,
}


def _base_learning_rate(optimizer_config) -> float:
    learning_rate = _as_dict(optimizer_config).get("learning_rate", OPTIMIZER_DEFAULTS["sgd"]["learning_rate"])
    return _number("optimizer.learning_rate", learning_rate, above=0)


def _compiled(schedule: Schedule) -> Schedule:
    # One compiled function instead of a dozen op-by-op dispatches when called outside jit (plots, tests).
    return jax.jit(lambda step: jnp.asarray(schedule(step), jnp.float32))


def _schedules(optimizer_config, schedule_config) -> tuple[Schedule, Schedule | None]:
    """(rate schedule, momentum schedule or None when the schedule leaves momentum alone)."""
    name, parameters = _resolve("schedule", schedule_config, SCHEDULE_DEFAULTS, default_name="constant")
    if name in _CYCLES:
        learning_rate, momentum = _SCHEDULE_BUILDERS[name](**parameters)
    else:
        learning_rate = _SCHEDULE_BUILDERS[name](_base_learning_rate(optimizer_config), **parameters)
        momentum = None
    return _compiled(learning_rate), _compiled(momentum) if momentum else None


def learning_rate_schedule(optimizer_config, schedule_config) -> Schedule:
    """The rate of optimizer update `step` (0-based), for jnp int32 steps inside jit or arrays of steps.

    The base rate is optimizer_config['learning_rate']; 'cyclic' and 'one_cycle' replace it, as in torch.
    """
    return _schedules(optimizer_config, schedule_config)[0]


# --- optimizers ---------------------------------------------------------------------------

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
        learning_rate=_number("optimizer.learning_rate", parameters["learning_rate"], above=0),
        weight_decay=_number("optimizer.weight_decay", parameters["weight_decay"], minimum=0))
    if name == "sgd":
        checked["momentum"] = _number("optimizer.momentum", parameters["momentum"], minimum=0)
        checked["nesterov"] = _boolean("optimizer.nesterov", parameters["nesterov"])
        if checked["nesterov"] and checked["momentum"] == 0:
            raise UserError("optimizer.nesterov=True needs optimizer.momentum > 0 (as in torch)")
    else:
        checked["b1"] = _number("optimizer.b1", parameters["b1"], minimum=0, below=1)
        checked["b2"] = _number("optimizer.b2", parameters["b2"], minimum=0, below=1)
        checked["eps"] = _number("optimizer.eps", parameters["eps"], minimum=0)
    return checked


_OPTIMIZER_FACTORIES = {"sgd": _sgd, "adam": _adam, "adamw": _adamw}


def create_optimizer(config) -> optax.GradientTransformation:
    """The optimizer named by config.optimizer, its rate following config.schedule (default constant).

    The rate (and a cycled momentum) is injected with optax.inject_hyperparams, so the state (a pytree
    of arrays, safe to checkpoint) carries the step count and the rate; see `current_learning_rate`.
    """
    name, parameters = _resolve("optimizer", config["optimizer"], OPTIMIZER_DEFAULTS)
    parameters = _checked_optimizer_parameters(name, parameters)
    parameters["learning_rate"], momentum = _schedules(config["optimizer"], config.get("schedule"))
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


# --- `jaxmnist schedule` --------------------------------------------------------------------

_SPEC_PATTERN = re.compile(r"^\s*(\w+)\s*\((.*)\)\s*$", re.DOTALL)


def parse_schedule_spec(spec: str) -> tuple[dict, dict]:
    """'cosine(lr=1e-3,t_max=1000)' -> ({'learning_rate': 0.001}, {'name': 'cosine', 't_max': 1000}).

    Values are Python literals; bare words are strings (mode=triangular2); lr= sets the base rate.
    """
    match = _SPEC_PATTERN.match(spec)
    if not match:
        raise UserError(f"cannot parse schedule spec {spec!r}: expected NAME(key=value,...), "
                        "e.g. 'cosine(lr=1e-3,t_max=1000)'")
    name, arguments = match.groups()
    optimizer_config, schedule_config = {}, {"name": name}
    for argument in filter(None, (part.strip() for part in arguments.split(","))):
        key, separator, raw_value = (part.strip() for part in argument.partition("="))
        if not separator or not key.isidentifier():
            raise UserError(f"schedule spec {spec!r}: expected key=value, got {argument!r}")
        try:
            value = ast.literal_eval(raw_value)
        except (ValueError, SyntaxError):
            value = raw_value
        if key in ("lr", "learning_rate"):
            optimizer_config["learning_rate"] = value
        else:
            schedule_config[key] = value
    return optimizer_config, schedule_config


def _spec_configs(spec: str) -> tuple[dict, dict]:
    if "(" not in spec:
        from jaxmnist.config import load_experiment

        config = load_experiment(spec)
        if "optimizer" not in config:
            raise UserError(f"experiment {spec} has no optimizer settings (config.optimizer)")
        return _as_dict(config.optimizer), _as_dict(config.get("schedule"))
    return parse_schedule_spec(spec)


def _describe(optimizer_config: dict, schedule_config: dict) -> str:
    name, parameters = _resolve("schedule", schedule_config, SCHEDULE_DEFAULTS, default_name="constant")
    settings = [f"{key}={value}" for key, value in parameters.items()]
    if name not in _CYCLES:
        settings.insert(0, f"lr={_base_learning_rate(optimizer_config):g}")
    return f"{name}({', '.join(settings)})"


def _write_plot(path: str, learning_rates: np.ndarray, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4))
    axes.plot(np.arange(len(learning_rates)), learning_rates, color="tab:orange", linewidth=1)
    axes.set_xlabel("step (optimizer updates)")
    axes.set_ylabel("learning rate")
    axes.set_title(textwrap.fill(title, 120), fontsize=9)
    axes.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    axes.grid(alpha=0.3)
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=110)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        plt.close(figure)


def schedule_command(args) -> int:
    """`jaxmnist schedule SPEC --steps N [--json] [--plot FILE.png]`."""
    if args.steps <= 0:
        raise UserError(f"--steps must be positive, got {args.steps}")
    optimizer_config, schedule_config = _spec_configs(args.spec)
    description = _describe(optimizer_config, schedule_config)
    schedule = learning_rate_schedule(optimizer_config, schedule_config)
    learning_rates = np.asarray(schedule(np.arange(args.steps)), np.float32)
    if args.plot:
        is_experiment = "(" not in args.spec
        _write_plot(args.plot, learning_rates, f"{args.spec}: {description}" if is_experiment else description)
    if args.json:
        print(json.dumps({"spec": args.spec, "schedule": description, "steps": args.steps,
                          "learning_rates": [float(str(rate)) for rate in learning_rates]}))
        return 0
    lowest, highest = int(np.argmin(learning_rates)), int(np.argmax(learning_rates))
    print(f"schedule  {description}")
    print(f"steps     {args.steps} (0 .. {args.steps - 1}; step k is the rate of optimizer update k)")
    print(f"first     {learning_rates[0]:.6e}    last {learning_rates[-1]:.6e}")
    print(f"min       {learning_rates[lowest]:.6e} at step {lowest}")
    print(f"max       {learning_rates[highest]:.6e} at step {highest}")
    print(f"{'step':>10}  learning rate")
    for step in sorted(set(np.linspace(0, args.steps - 1, 9).round().astype(int).tolist())):
        print(f"{step:>10}  {learning_rates[step]:.6e}")
    if args.plot:
        print(f"plot      {args.plot}")
    return 0
