"""Which shard_map mesh axes a value varies over, and making values vary alike, so that the branches
of a conditional or the carry of a loop agree (a constant does not vary over a group's runs; a
run's state does)."""

import jax


def varying_axes(value) -> tuple[str, ...]:
    """The shard_map mesh axes `value` varies over (jax 0.10 names them manual_axis_type.varying, later jax vma)."""
    aval = jax.typeof(value)
    return tuple(getattr(aval, "vma", None) or getattr(getattr(aval, "manual_axis_type", None), "varying", ()))


def varying_as(tree, like):
    """`tree` varying over the mesh axes each leaf of `like` varies over."""
    def cast(value, reference):
        missing = tuple(sorted(set(varying_axes(reference)) - set(varying_axes(value))))
        return jax.lax.pcast(value, missing, to="varying") if missing else value
    return jax.tree.map(cast, tree, like)
