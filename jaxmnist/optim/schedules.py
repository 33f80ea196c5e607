"""Per-step learning-rate schedules with torch.optim.lr_scheduler's exact semantics.

Configs name them as PyTorch does (see `SCHEDULE_DEFAULTS`):

    config.schedule = dict(name='cosine', t_max=1000)

Step alignment: `schedule(k)` is the rate of optimizer update k (0-based), i.e. the rate
torch's optimizer uses after k calls to `scheduler.step()` when the scheduler is stepped
once per batch, as notebook 003 does. Rates are computed in closed form in float32, in
forms chosen to stay within 1e-6 relative of torch's float64 recursions even near zero.
'cyclic' and 'one_cycle' can also cycle SGD's momentum / Adam's beta1 (cycle_momentum=True).
"""

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxmnist.config import RATE_SETTING_SCHEDULES
from jaxmnist.errors import UserError
from jaxmnist.optim import settings
from jaxmnist.optim.settings import REQUIRED

Schedule = Callable[[jax.typing.ArrayLike], jax.Array]

# torch.optim.lr_scheduler's defaults, with the arguments renamed to snake case, except
# cycle_momentum: off unless asked for (torch: on), since notebook 003 turns it off and configs
# written from the notebooks' calls would otherwise cycle Adam's beta1 unasked.
SCHEDULE_DEFAULTS = {
    "constant": {},
    "cosine": dict(t_max=REQUIRED, eta_min=0.0),
    "cyclic": dict(base_lr=REQUIRED, max_lr=REQUIRED, step_size_up=2000, step_size_down=None,
                   mode="triangular", gamma=1.0, cycle_momentum=False, base_momentum=0.8, max_momentum=0.9),
    "warm_restarts": dict(t_0=REQUIRED, t_mult=1, eta_min=0.0),
    "step": dict(step_size=REQUIRED, gamma=0.1),
    "one_cycle": dict(max_lr=REQUIRED, total_steps=REQUIRED, pct_start=0.3, anneal_strategy="cos",
                      div_factor=25.0, final_div_factor=1e4, three_phase=False, cycle_momentum=False,
                      base_momentum=0.85, max_momentum=0.95),
    "warmup_cosine": dict(warmup_steps=REQUIRED, total_steps=REQUIRED, eta_min=0.0,
                          warmup_start_factor=0.0),
}


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
    t_max = settings.integer("schedule.t_max", t_max, minimum=1)
    eta_min = settings.number("schedule.eta_min", eta_min, minimum=0)

    def schedule(step):
        steps_from_minimum = jnp.abs(jnp.asarray(step) % (2 * t_max) - t_max)
        return eta_min + (base_lr - eta_min) * _half_cosine(steps_from_minimum, t_max)

    return schedule


def _warm_restarts(base_lr: float, t_0, t_mult, eta_min) -> Schedule:
    """torch CosineAnnealingWarmRestarts: cosine from base_lr towards eta_min over t_0 steps,
    then restart at base_lr with the period multiplied by t_mult."""
    t_0 = settings.integer("schedule.t_0", t_0, minimum=1)
    t_mult = settings.integer("schedule.t_mult", t_mult, minimum=1)
    eta_min = settings.number("schedule.eta_min", eta_min, minimum=0)
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
    base_lr = settings.number("schedule.base_lr", base_lr, minimum=0)
    max_lr = settings.number("schedule.max_lr", max_lr, minimum=0)
    step_size_up = settings.integer("schedule.step_size_up", step_size_up, minimum=1)
    step_size_down = step_size_up if step_size_down is None else \
        settings.integer("schedule.step_size_down", step_size_down, minimum=1)
    mode = settings.choice("schedule.mode", mode, ("triangular", "triangular2", "exp_range"))
    gamma = settings.number("schedule.gamma", gamma, above=0)
    cycle_momentum = settings.boolean("schedule.cycle_momentum", cycle_momentum)
    base_momentum = settings.number("schedule.base_momentum", base_momentum, minimum=0, maximum=1)
    max_momentum = settings.number("schedule.max_momentum", max_momentum, minimum=0, maximum=1)
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
    step_size = settings.integer("schedule.step_size", step_size, minimum=1)
    gamma = settings.number("schedule.gamma", gamma, above=0)
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
    max_lr = settings.number("schedule.max_lr", max_lr, above=0)
    total_steps = settings.integer("schedule.total_steps", total_steps, minimum=1)
    pct_start = settings.number("schedule.pct_start", pct_start, minimum=0, maximum=1)
    anneal_strategy = settings.choice("schedule.anneal_strategy", anneal_strategy, ("cos", "linear"))
    div_factor = settings.number("schedule.div_factor", div_factor, above=0)
    final_div_factor = settings.number("schedule.final_div_factor", final_div_factor, above=0)
    three_phase = settings.boolean("schedule.three_phase", three_phase)
    cycle_momentum = settings.boolean("schedule.cycle_momentum", cycle_momentum)
    base_momentum = settings.number("schedule.base_momentum", base_momentum, minimum=0, maximum=1)
    max_momentum = settings.number("schedule.max_momentum", max_momentum, minimum=0, maximum=1)
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
    warmup_steps = settings.integer("schedule.warmup_steps", warmup_steps, minimum=0)
    total_steps = settings.integer("schedule.total_steps", total_steps, minimum=warmup_steps + 1)
    warmup_start_factor = settings.number("schedule.warmup_start_factor", warmup_start_factor, minimum=0, maximum=1)
    cosine = _cosine(base_lr, total_steps - warmup_steps, eta_min)

    def schedule(step):
        step = jnp.asarray(step)
        warmup_fraction = step / max(warmup_steps, 1)
        warmup = base_lr * (warmup_start_factor + (1 - warmup_start_factor) * warmup_fraction)
        return jnp.where(step < warmup_steps, warmup, cosine(step - warmup_steps))

    return schedule


# torch's cyclic schedulers (config.RATE_SETTING_SCHEDULES) set the optimizer's rate themselves and
# can also cycle its momentum, so their builders return (rate, momentum or None).

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
    learning_rate = settings.as_dict(optimizer_config).get("learning_rate", settings.DEFAULT_LEARNING_RATE)
    return settings.number("optimizer.learning_rate", learning_rate, above=0)


def _compiled(schedule: Schedule) -> Schedule:
    # One compiled function instead of a dozen op-by-op dispatches when called outside jit (plots, tests).
    return jax.jit(lambda step: jnp.asarray(schedule(step), jnp.float32))


def rate_and_momentum(optimizer_config, schedule_config) -> tuple[Schedule, Schedule | None]:
    """(rate schedule, momentum schedule or None when the schedule leaves momentum alone)."""
    name, parameters = settings.resolve("schedule", schedule_config, SCHEDULE_DEFAULTS, default_name="constant")
    if name in RATE_SETTING_SCHEDULES:
        learning_rate, momentum = _SCHEDULE_BUILDERS[name](**parameters)
    else:
        learning_rate = _SCHEDULE_BUILDERS[name](_base_learning_rate(optimizer_config), **parameters)
        momentum = None
    return _compiled(learning_rate), _compiled(momentum) if momentum else None


def learning_rate_schedule(optimizer_config, schedule_config) -> Schedule:
    """The rate of optimizer update `step` (0-based), for jnp int32 steps inside jit or arrays of steps.

    The base rate is optimizer_config['learning_rate']; 'cyclic' and 'one_cycle' replace it, as in torch.
    """
    return rate_and_momentum(optimizer_config, schedule_config)[0]


def describe(optimizer_config: dict, schedule_config: dict) -> str:
    """'cosine(lr=0.001, t_max=1000, eta_min=0.0)': the schedule with every parameter, defaults filled in."""
    name, parameters = settings.resolve("schedule", schedule_config, SCHEDULE_DEFAULTS, default_name="constant")
    arguments = [f"{key}={value}" for key, value in parameters.items()]
    if name not in RATE_SETTING_SCHEDULES:
        arguments.insert(0, f"lr={_base_learning_rate(optimizer_config):g}")
    return f"{name}({', '.join(arguments)})"
