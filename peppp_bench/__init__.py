"""peppp-bench: the PEPPP benchmark for picking the numeric precision to train a network in."""

__version__ = "0.1.0"

from .configs import CONFIG_IDS, CONFIGS, Configuration, FloatFormat, get_config
from .errors import ProtocolViolation
from .memory import NetworkCounts, count_network, resnet18_counts
from .modern import MODERN, MODERN_IDS, ModernConfiguration, TensorFormat, get_modern
from .numerics import NUMERICAL_RANK_CUTOFF, first_max, snap
from .protocol.rules import SETTINGS, Measurement, Method, Oracle, Task, plug_in, regress
from .protocol.runner import Evaluation, evaluate
from .protocol.sandbox import Limits, MethodRef
from .suites.sources import load
from .suites.suite import Benchmark, SuiteError

__all__ = [
    "Benchmark",
    "CONFIGS",
    "CONFIG_IDS",
    "Configuration",
    "Evaluation",
    "FloatFormat",
    "Limits",
    "MODERN",
    "MODERN_IDS",
    "Measurement",
    "Method",
    "MethodRef",
    "ModernConfiguration",
    "NUMERICAL_RANK_CUTOFF",
    "NetworkCounts",
    "Oracle",
    "ProtocolViolation",
    "SETTINGS",
    "SuiteError",
    "Task",
    "TensorFormat",
    "count_network",
    "evaluate",
    "first_max",
    "get_config",
    "get_modern",
    "load",
    "plug_in",
    "regress",
    "resnet18_counts",
    "snap",
]
