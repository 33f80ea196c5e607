"""Optimizers and per-step learning-rate schedules with torch.optim's exact semantics.

    settings.py    reading and checking a config's `optimizer` and `schedule` sections
    schedules.py   the schedules (torch.optim.lr_scheduler's), one rate per optimizer update
    optimizers.py  SGD, Adam, AdamW as optax transformations whose rate follows the schedule, and
                   one optimizer per run of a group (a sweep)
"""

from jaxmnist.optim.optimizers import (OPTIMIZER_DEFAULTS, ChosenState, create_optimizer, current_learning_rate,
                                       one_per_run)
from jaxmnist.optim.schedules import SCHEDULE_DEFAULTS, learning_rate_schedule

__all__ = ["OPTIMIZER_DEFAULTS", "SCHEDULE_DEFAULTS", "ChosenState", "create_optimizer",
           "current_learning_rate", "learning_rate_schedule", "one_per_run"]
