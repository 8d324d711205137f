"""peppp-bench: the PEPPP benchmark for picking the numeric precision to train a network in."""
from .configs import CONFIG_IDS, CONFIGS, Configuration, FloatFormat, get_config
from .memory import NetworkCounts, count_network, resnet18_counts
from .sources import load
from .suite import Benchmark, SuiteError

__version__ = "0.1.0"
__all__ = [
    "Benchmark", "CONFIGS", "CONFIG_IDS", "Configuration", "FloatFormat", "NetworkCounts", "SuiteError",
    "count_network", "get_config", "load", "resnet18_counts",
]
