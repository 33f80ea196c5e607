import sys
import types

__version__ = "0.1.0"

# TensorBoard's event writer does its file I/O through TensorFlow when TensorFlow is installed
# (a 2-3 s import and TF's C++ log lines in every run); `tensorboard.compat.notf` is TensorBoard's
# own switch to its TensorFlow-free stub, which writes the same files.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
