"""Which kernels the layers of a traced program use, chosen once per program.

'xla': XLA's own (cuDNN's on NVIDIA GPUs), the default on GPU and TPU; 'cpu': `cpu_kernels`,
written for XLA:CPU, the default there; 'patches': `patch_kernels`, convolutions as one matrix
product, a candidate for runs vmapped on one device. `with kernels.use(name):` around the traced
step makes the layers call them.
"""

import contextlib
import contextvars

NAMES = ("xla", "cpu", "patches")
_ACTIVE = contextvars.ContextVar("jaxmnist_kernels", default="xla")


@contextlib.contextmanager
def use(name: str):
    if name not in NAMES:
        raise ValueError(f"kernels must be one of {', '.join(NAMES)}, got {name!r}")
    token = _ACTIVE.set(name)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> str:
    return _ACTIVE.get()
