"""`jaxmnist models` and `jaxmnist summary NAME_OR_WORKDIR`."""

import functools
import json
from pathlib import Path

from jaxmnist import models
from jaxmnist.report import runs


def _print_table(header, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for cells in [header, ["-" * width for width in widths], *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip())


def list_command(args) -> int:
    if args.json:  # with what the built modules say (BatchNorm, dropout rates): loads JAX
        print(json.dumps([models.info(name) for name in models.names()], indent=2))
        return 0
    _print_table(["name", "notebook", "torch class", "params", "output", "description"],
                 [[name, e.notebook, e.torch_class, f"{e.params:,}", e.output, e.description]
                  for name, e in models.REGISTRY.items()])
    return 0


def layer_table(name: str) -> list[dict]:
    """One row per leaf layer in call order (path, type, output shape, params), like torchsummary."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from jaxmnist.models import layers

    # The layers torchsummary would list: torch.nn modules that are leaves of the network.
    leaf_layers = (layers.Conv2d, layers.Linear, layers.BatchNorm, layers.Dropout, layers.ReLU,
                   layers.MaxPool2d, layers.AvgPool2d)
    calls = []

    def record(next_fun, args, kwargs, context):
        output = next_fun(*args, **kwargs)
        if context.method_name == "__call__" and isinstance(context.module, leaf_layers):
            calls.append((context.module.path, type(context.module).__name__, output.shape))
        return output

    # Traced afresh here (not through a possibly cached jit) so that every layer call is seen.
    init = functools.partial(models.create(name).init, train=False)
    with nn.intercept_methods(record):
        variables = jax.eval_shape(init, {"params": jax.random.key(0)},
                                   jax.ShapeDtypeStruct((1, *models.INPUT_SHAPE), jnp.float32))

    def own_params(path):
        tree = variables["params"]
        for key in path:
            tree = tree.get(key, {})
        return models.param_count(tree)

    return [{"layer": "/".join(path), "type": layer_type, "output_shape": [-1, *shape[1:]],
             "params": own_params(path)}
            for path, layer_type, shape in calls]


def summary_command(args) -> int:
    if Path(args.name).is_dir():  # a run's workdir: the model its config.json names
        args.name = runs.run_config(args.name)["model"]
    args.name = models.canonical_name(args.name)
    entry = models.info(args.name)
    rows = layer_table(args.name)
    running_statistics = models.param_count(models.abstract_variables(args.name).get("batch_stats", {}))
    if args.json:
        print(json.dumps({**entry, "input_shape": [-1, *models.INPUT_SHAPE], "layers": rows,
                          "batch_stats": running_statistics}, indent=2))
        return 0
    print(f"{args.name}: {entry['torch_class']} (notebook {entry['notebook']}), "
          f"input [-1, {', '.join(map(str, models.INPUT_SHAPE))}] NHWC, output {entry['output']}")
    _print_table(["layer", "type", "output shape (NHWC)", "params"],
                 [[row["layer"], row["type"], str(row["output_shape"]), f"{row['params']:,}"] for row in rows])
    print(f"Total params: {entry['params']:,}")
    if running_statistics:
        print(f"BatchNorm running statistics (batch_stats, not parameters): {running_statistics:,}")
    return 0
