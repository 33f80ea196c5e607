"""Process settings of a training process: kept host memory, CPU devices, the compilation cache (see also
test_train)."""

import argparse
import os
import subprocess
import sys

import pytest

from jaxmnist import runtime

_FAULTS_SCRIPT = """
import resource, sys
from jaxmnist import runtime
if sys.argv[1] == "keep":
    assert runtime.keep_freed_host_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
buffer = bytearray(64 << 20)  # what XLA does each step: allocate a large buffer, write it, free it
del buffer
before = faults()
for _ in range(10):
    buffer = bytearray(64 << 20)
    del buffer
print((faults() - before) // 10)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_host_memory_is_reused_without_page_faults():
    def faults_per_buffer(mode):
        result = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT, mode], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        return int(result.stdout)

    pages = (64 << 20) // 4096
    assert faults_per_buffer("default") >= pages // 2  # fresh pages each time (fewer with huge pages)
    assert faults_per_buffer("keep") < 100


_DEVICES_SCRIPT = """
import sys
from jaxmnist import runtime
runtime.use_cpu_cores_as_devices(int(sys.argv[1]) if len(sys.argv) > 1 else None)
import jax
print(jax.device_count(), jax.devices()[0].platform)
"""


@pytest.mark.parametrize("xla_flags, count, expected", [
    ("", None, len(os.sched_getaffinity(0))),  # one device per core this process may use
    ("", 3, 3),
    ("--xla_force_host_platform_device_count=4", None, 4),  # a count in XLA_FLAGS is kept
])
def test_cpu_devices_default_to_one_per_usable_core(xla_flags, count, expected):
    result = subprocess.run([sys.executable, "-c", _DEVICES_SCRIPT, *([str(count)] if count else [])],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "XLA_FLAGS": xla_flags, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(expected), "cpu"]


def test_cpu_devices_argument_accepts_whole_numbers_from_1():
    assert runtime.device_count_argument("3") == 3
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"at least 1, got '{bad}'"):
            runtime.device_count_argument(bad)


@pytest.mark.parametrize(("xla_flags", "expected"), [
    (None, "--xla_gpu_deterministic_ops=true"),
    ("--xla_force_host_platform_device_count=2", "--xla_force_host_platform_device_count=2 "
                                                 "--xla_gpu_deterministic_ops=true"),
    ("--xla_gpu_deterministic_ops=false", "--xla_gpu_deterministic_ops=false"),  # the user's choice stays
])
def test_gpu_programs_are_deterministic_unless_xla_flags_say_otherwise(monkeypatch, xla_flags, expected):
    if xla_flags is None:
        monkeypatch.delenv("XLA_FLAGS", raising=False)
    else:
        monkeypatch.setenv("XLA_FLAGS", xla_flags)
    runtime.deterministic_gpu_ops()
    assert os.environ["XLA_FLAGS"] == expected


def test_jaxmnist_train_asks_for_deterministic_gpu_programs_before_anything_else(monkeypatch, capsys):
    from jaxmnist import cli

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    # The settings that would reach beyond this test: this process runs JAX already.
    for setting in ("use_cpu_cores_as_devices", "enable_compilation_cache", "keep_freed_host_memory"):
        monkeypatch.setattr(runtime, setting, lambda *args: None)
    assert cli.main(["train", "net8k/no_such", "--dry-run"]) == 2  # stops at the experiment, after the settings
    assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=true"
    assert "error: " in capsys.readouterr().err


def test_xla_gpu_flags_are_added_where_xla_flags_does_not_set_them():
    flags = {"xla_gpu_autotune_level": "0", "xla_gpu_enable_command_buffer": "+CONVOLUTION,+WHILE"}
    assert runtime.with_xla_gpu_flags("", flags) == (
        "--xla_gpu_autotune_level=0 --xla_gpu_enable_command_buffer=+CONVOLUTION,+WHILE")
    assert runtime.with_xla_gpu_flags(" --xla_gpu_autotune_level=4 --xla_gpu_enable_command_buffer=", flags) == (
        "--xla_gpu_autotune_level=4 --xla_gpu_enable_command_buffer=")
    # A flag's name is matched whole: a longer flag with the same beginning is another flag.
    assert runtime.with_xla_gpu_flags("--xla_gpu_autotune_level_extra=1", {"xla_gpu_autotune_level": "1"}) == (
        "--xla_gpu_autotune_level_extra=1 --xla_gpu_autotune_level=1")
    with pytest.raises(ValueError, match="not XLA:GPU flags: xla_force_host_platform_device_count"):
        runtime.with_xla_gpu_flags("", {"xla_force_host_platform_device_count": "2"})


def test_set_xla_gpu_flags_changes_this_process_xla_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_autotune_level=1")
    runtime.set_xla_gpu_flags({"xla_gpu_autotune_level": "0", "xla_gpu_exclude_nondeterministic_ops": "true"})
    assert os.environ["XLA_FLAGS"] == "--xla_gpu_autotune_level=1 --xla_gpu_exclude_nondeterministic_ops=true"


@pytest.mark.parametrize("option_exists", [True, False])
def test_the_compilation_cache_keeps_xla_gpu_autotune_results_where_jax_can(monkeypatch, tmp_path, option_exists):
    import jax

    updates = {}
    monkeypatch.setattr(jax.config, "update", lambda name, value: updates.__setitem__(name, value))
    monkeypatch.delenv("JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES", raising=False)
    if not option_exists:  # as in a jax older than the option
        monkeypatch.setattr(runtime, "_XLA_CACHES_OPTION", "jax_option_of_a_later_jax")
    runtime.enable_compilation_cache(tmp_path)
    assert updates["jax_compilation_cache_dir"] == str(tmp_path)
    assert updates.get(runtime._XLA_CACHES_OPTION) == ("xla_gpu_per_fusion_autotune_cache_dir" if option_exists
                                                       else None)

    updates.clear()
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES", "none")  # the user's choice stays
    runtime.enable_compilation_cache(tmp_path)
    assert "jax_persistent_cache_enable_xla_caches" not in updates
