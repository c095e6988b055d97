"""omscan: how much device memory Ascend `.om` models need, for whole fleets."""

__version__ = "0.1.0"
