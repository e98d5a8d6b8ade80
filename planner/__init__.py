"""planner: capacity planning and cost optimisation for AI datacenters."""

__version__ = "0.1.0"
