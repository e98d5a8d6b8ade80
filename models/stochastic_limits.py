"""The two-stage solve's settings a command line needs before anything heavy (JAX) is imported."""

DEFAULT_CVAR_ALPHA = 0.95  # CVaR95, the tail measure RISK.json reports
# The most futures `plan --stochastic N` solves on: its extensive form is ONE LP over all N futures, and evaluating
# 100 futures of the example is ~180,000 recourse columns (models/stochastic.py, RECOURSE_CHUNK_FUTURES), so 2,000
# futures are ~3.6 M columns, already gigabytes in the solver. More futures add little to a first-stage decision;
# price a plan on many more with `planner evaluate`, which solves them in chunks.
MAX_STOCHASTIC_FUTURES = 2_000
