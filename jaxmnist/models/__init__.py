"""Registry of every notebook architecture as a Flax linen module.

    module = models.create("lenet_deep")                  # or create("net", dropout_rate=0.0)
    variables = models.init_variables(module, jax.random.key(0))
    logits = module.apply(variables, x, train=False)      # x: (B, 28, 28, 1) float32 NHWC

In training pass `rngs={'dropout': key}` and, for models with BatchNorm,
`mutable=['batch_stats']`; inside `with batch_statistics_over(mask):` padding examples leave
BatchNorm's statistics alone. Every module returns what its PyTorch forward returns
(`info(name)['output']`: log_softmax, logits or softmax).

The registry itself (jaxmnist/models/registry.py) is plain data, so listing the models needs
neither JAX nor Flax; the functions that build modules and variables (jaxmnist/models/build.py)
load on first use.
"""

from jaxmnist.models.registry import INPUT_SHAPE, REGISTRY, Entry, canonical_name, entry, names  # noqa: F401

_BUILD_FUNCTIONS = ("create", "check_overrides", "init_variables", "variable_shapes", "abstract_variables",
                    "param_count", "info", "batch_statistics_over", "one_per_run", "rates_as_numbers")


def __getattr__(name: str):
    # The Flax side loads on first use (PEP 562), so `import jaxmnist.models` stays free of JAX.
    if name in _BUILD_FUNCTIONS:
        from jaxmnist.models import build

        return getattr(build, name)
    raise AttributeError(f"module 'jaxmnist.models' has no attribute '{name}'")
