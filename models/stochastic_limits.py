"""The two-stage solve's settings a command line needs before anything heavy (JAX) is imported."""

DEFAULT_CVAR_ALPHA = 0.95  # CVaR95, the tail measure RISK.json reports
# The most futures `plan --stochastic N` solves on: its extensive form is ONE LP over all N futures, and evaluating
# 100 futures of the example is ~180,000 recourse columns (models/stochastic.py, RECOURSE_CHUNK_FUTURES), so 2,000
# futures are ~3.6 M columns, already gigabytes in the solver. More futures add little to a first-stage decision;
# price a plan on many more with `planner evaluate`, which solves them in chunks.
MAX_STOCHASTIC_FUTURES = 2_000

# `plan --stochastic auto`: N doubles from AUTO_FIRST_FUTURES until the SAA optimism's 95 % half-width (held-out mean
# − in-sample mean, planner/stochastic.py `validation_figures`) is at most the tolerance × the held-out E[TCO], or N
# would pass AUTO_MAX_FUTURES. At N = 30 on the shipped example the half-width was 5.8 % of E[TCO] and it shrinks
# as 1/√N, so the default 2 % is met near N = 250: 25, 50, 100, 200, 400 solves at most.
AUTO_FIRST_FUTURES = 25
AUTO_MAX_FUTURES = 400
DEFAULT_AUTO_TOLERANCE = 0.02


def converge_futures(solve, first: int = AUTO_FIRST_FUTURES, cap: int = AUTO_MAX_FUTURES,
                     tolerance: float = DEFAULT_AUTO_TOLERANCE):
    """Double N until `solve(N)` (a result with `.figures`, PLAN.json's `stochastic`) has
    in_sample_optimism_ci95_usd ≤ tolerance × validation_expected_tco_usd, or the next N would exceed `cap`.
    Returns (the last result, the steps [{samples, in_sample_optimism_usd, in_sample_optimism_ci95_usd,
    half_width_fraction}], whether the tolerance was met)."""
    steps, samples = [], first
    while True:
        result = solve(samples)
        figures = result.figures
        fraction = figures["in_sample_optimism_ci95_usd"] / max(abs(figures["validation_expected_tco_usd"]), 1e-9)
        steps.append({"samples": samples, "in_sample_optimism_usd": figures["in_sample_optimism_usd"],
                      "in_sample_optimism_ci95_usd": figures["in_sample_optimism_ci95_usd"],
                      "half_width_fraction": fraction})
        if fraction <= tolerance:
            return result, steps, True
        if samples * 2 > cap:
            return result, steps, False
        samples *= 2
