"""peppp-bench: the PEPPP benchmark for picking the numeric precision to train a network in."""
__version__ = "0.1.0"

from .configs import CONFIG_IDS, CONFIGS, Configuration, FloatFormat, get_config
from .memory import NetworkCounts, count_network, resnet18_counts
from .protocol import SETTINGS, Measurement, Method, Oracle, ProtocolViolation, Task, plug_in, regress
from .runner import Evaluation, evaluate
from .sandbox import Limits, MethodRef
from .sources import load
from .suite import Benchmark, SuiteError

__all__ = [
    "Benchmark", "CONFIGS", "CONFIG_IDS", "Configuration", "Evaluation", "FloatFormat", "Limits", "Measurement", "Method",
    "MethodRef", "NetworkCounts", "Oracle", "ProtocolViolation", "SETTINGS", "SuiteError", "Task", "count_network",
    "evaluate", "get_config", "load", "plug_in", "regress", "resnet18_counts",
]
