"""The calibration of models/efficiency.py against the reference data (tests/reference, copied from the project's
shared reference, plus the `_added` files: MLPerf v5.0/v5.1 Blackwell rows and GB300, SOURCE.md; the manual's
docs/performance-model.md, "Calibration", has the same tables).

Every reference row's estimate is printed (run with -s); the issue's targets are asserted on the rows the
constants are fitted on: training GPU-hours median |error| <= 15 % and max <= 35 %, serving tokens/s each within
+-25 %. Leave-one-out errors are asserted within the bounds the manual reports, and efficiency.py's constants
must equal a fresh fit, so they cannot drift from the data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import models.efficiency as eff
from models.calibration import FIT, Calibration, calibrate, fit_serving, fit_training, markdown_tables
from models.performance import ep_all_to_all_s_per_token, estimate_performance, rate_precision

REFERENCE = Path(__file__).resolve().parent / "reference"
PAGE = Path(__file__).resolve().parent.parent / "docs" / "performance-model.md"  # its Calibration tables
NO_OVERRIDES = pd.DataFrame({"workload": pd.Series(dtype=str), "sku": pd.Series(dtype=str),
                             "tokens_per_s_per_node": pd.Series(dtype=float)})

# The targets (issue 15, item 5).
TRAINING_MEDIAN_TARGET = 0.15
TRAINING_MAX_TARGET = 0.35
SERVING_TARGET = 0.25
# Leave-one-out bounds reported in docs/performance-model.md, regression bounds (observed, rounded up to the next 5 %):
# training median 18.3 %, max 58.1 % (Phi-3-mini); Llama 3.1 405B +17.1 % (was +38.3 % when the size law stopped at
# the largest other run); serving max 54.3 % (MI300X Server: its refit keeps one CDNA 3 row, so the Hopper prior).
TRAINING_LOO_MEDIAN_BOUND = 0.20
TRAINING_LOO_MAX_BOUND = 0.60
LARGEST_RUN_LOO_BOUND = 0.20
SERVING_LOO_MAX_BOUND = 0.55
# Issue 25 item 4, held out (MLPerf v5.1, never fitted; models.calibration.HELD_OUT_ROUNDS), regression bounds on the
# observed errors: all 11 predicted v5.1 rows median 39.3 %, max 266.1 % (DeepSeek-R1 72x GB200); without DeepSeek-R1
# (8 rows: Llama-2-70B, Llama 3.1 405B, MI300X) median 28.7 %, max 44.4 % (Llama-2-70B 8x B200). The targets (median
# <= 15 %, max <= 30 %) are missed; docs/performance-model.md explains each miss with figures.
HELD_OUT_MEDIAN_BOUND = 0.40
HELD_OUT_MAX_BOUND = 2.70
HELD_OUT_DENSE_MEDIAN_BOUND = 0.30
HELD_OUT_DENSE_MAX_BOUND = 0.45
CONSTANT_TOLERANCE = 1e-6


def _table(name: str) -> pd.DataFrame:
    """A reference table with its `_added` companion appended (as bench/calibrate.py's load_reference)."""
    added = REFERENCE / f"{name}_added.csv"
    frames = [pd.read_csv(REFERENCE / f"{name}.csv")] + ([pd.read_csv(added)] if added.exists() else [])
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def result() -> Calibration:
    return calibrate(_table("training_runs"), _table("inference_benchmarks"), _table("accelerators"))


def _fitted(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["role"] == FIT]


# ------------------------------------------------------------------------------------ targets per row

def test_training_estimates_meet_the_targets(result):
    """Every training run's estimate printed; on the 10 fitted runs, median |error| <= 15 % and max <= 35 %."""
    print("\n" + markdown_tables(result))
    errors = _fitted(result.training)["error"].abs()
    assert len(errors) == 10
    assert errors.median() <= TRAINING_MEDIAN_TARGET
    assert errors.max() <= TRAINING_MAX_TARGET


def test_serving_estimates_meet_the_target(result):
    """Every MLPerf row printed; each of the 18 fitted rows (v4.0-v5.0) within +-25 %."""
    table = result.serving
    print("\n" + table[["result", "role", "published_tokens_per_s", "model_tokens_per_s", "error", "loo_error"]]
          .to_string(float_format=lambda x: f"{x:,.3f}"))
    errors = _fitted(table)["error"].abs()
    assert len(errors) == 18
    assert errors.max() <= SERVING_TARGET


def test_rows_outside_the_fit_say_why(result):
    """No row is silently dropped: each one is fitted, or its role names the reason."""
    roles = pd.concat([result.training["role"], result.serving["role"]])
    assert roles.str.match(r"^(fit|excluded: .+|out of sample: .+|not predicted: .+)$").all()
    assert len(result.training) == 15 and len(result.serving) == 38


# ------------------------------------------------------------------------------ generalisation

def test_leave_one_out_errors_stay_within_the_reported_bounds(result):
    """Refit without each row, predict it: the errors the manual reports, as bounds."""
    training = _fitted(result.training)["loo_error"].abs()
    serving = _fitted(result.serving)["loo_error"].abs()
    print(f"\nLOO training median {training.median():.1%} max {training.max():.1%}; serving max {serving.max():.1%}")
    assert training.median() <= TRAINING_LOO_MEDIAN_BOUND
    assert training.max() <= TRAINING_LOO_MAX_BOUND
    assert serving.max() <= SERVING_LOO_MAX_BOUND
    largest = result.training[result.training["run"] == "Llama 3.1 405B"]["loo_error"].abs()
    assert largest.iloc[0] <= LARGEST_RUN_LOO_BOUND


def test_held_out_round_errors_stay_within_the_reported_bounds(result):
    """Issue 25 item 4: every v5.1 row is predicted by constants fitted on v4.0-v5.0 only; the errors the manual
    reports, as regression bounds (the targets are missed and explained there)."""
    held = result.serving[result.serving["role"] == "out of sample: held out (round v5.1)"]
    errors = held["error"].abs()
    assert len(errors) == 11 and errors.notna().all()
    assert errors.median() <= HELD_OUT_MEDIAN_BOUND and errors.max() <= HELD_OUT_MAX_BOUND
    dense = held[~held["result"].str.contains("deepseek")]["error"].abs()
    assert len(dense) == 8
    assert dense.median() <= HELD_OUT_DENSE_MEDIAN_BOUND and dense.max() <= HELD_OUT_DENSE_MAX_BOUND


def test_no_constant_rests_on_one_row(result):
    assert (result.constants["rows"] >= 2).all()
    assert set(result.constants["constant"]) == {
        "TRAINING_MFU_AT_70B_BY_ACCELERATOR['A100']", "TRAINING_MFU_AT_70B_BY_ACCELERATOR['H100']",
        "TRAINING_MFU_SIZE_EXPONENT", "ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION[('hopper', 'fp8')]",
        "ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION[('cdna3', 'fp8')]",
        "ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION[('blackwell', 'fp4')]"}


def test_efficiency_constants_are_a_fresh_fit(result):
    """models/efficiency.py holds the fit's output (bench/calibrate.py --constants), to 1e-6."""
    fit = result.training_fit
    assert fit.levels.keys() == eff.TRAINING_MFU_AT_70B_BY_ACCELERATOR.keys()
    for accelerator, level in fit.levels.items():
        assert eff.TRAINING_MFU_AT_70B_BY_ACCELERATOR[accelerator] == pytest.approx(level, abs=CONSTANT_TOLERANCE)
    assert eff.TRAINING_MFU_SIZE_EXPONENT == pytest.approx(fit.exponent, abs=CONSTANT_TOLERANCE)
    assert eff.TRAINING_MFU_PARAMS_B_RANGE == fit.params_b_range
    assert result.serving_fit.keys() == eff.ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION.keys()
    for key, fraction in result.serving_fit.items():
        assert eff.ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION[key] == pytest.approx(fraction,
                                                                                         abs=CONSTANT_TOLERANCE)


# ------------------------------------------------------------- the planner's own path gives the same

def _reference_nodes() -> pd.DataFrame:
    """8-GPU nodes of A100, H100, MI300X from accelerators.csv; H800 with H100's peaks (same GH100 die)."""
    acc = pd.read_csv(REFERENCE / "accelerators.csv").set_index("accelerator")
    names = {"a100": "NVIDIA A100 SXM 80GB", "h100": "NVIDIA H100 SXM 80GB", "h800": "NVIDIA H100 SXM 80GB",
             "mi300x": "AMD Instinct MI300X"}
    rows = {sku: {"accelerator": name.replace("H100", "H800") if sku == "h800" else name, "gpus_per_node": 8,
                  "bf16_tflops": acc.loc[name, "bf16_tflops_dense"], "fp8_tflops": acc.loc[name, "fp8_tflops_dense"],
                  "hbm_gb": acc.loc[name, "memory_gb"], "hbm_tbps": acc.loc[name, "memory_tbps"], "node_kw": 10.0}
            for sku, name in names.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("sku")


def test_estimate_performance_gives_the_calibrated_training_gpu_hours(result):
    """The planner's estimate (no workload mfu) of every predictable run equals the calibration's model
    GPU-hours: same MFU function, same 6 N_active D. Compute uses active parameters, so MoE runs are entered
    with params_b = active parameters here (memory is not compared)."""
    runs = result.training[np.isfinite(result.training["model_gpu_hours"])]
    workloads = pd.DataFrame({
        "kind": "training", "params_b": runs["active_params_b"].to_numpy(), "precision": runs["precision"].to_numpy(),
        "tokens_b": runs["tokens_b"].to_numpy(), "context_tokens": np.nan, "min_tokens_per_s_per_user": np.nan,
        "mfu": np.nan}, index=pd.Index(runs["run"].to_numpy(), name="workload"))
    estimate = estimate_performance(_reference_nodes(), workloads, NO_OVERRIDES)
    sku = runs["accelerator"].str.lower().to_numpy()
    planner_gpu_hours = estimate["gpu_hours"].reindex(pd.MultiIndex.from_arrays([runs["run"], sku])).to_numpy()
    np.testing.assert_allclose(planner_gpu_hours, runs["model_gpu_hours"].to_numpy(), rtol=1e-6)


def test_estimate_performance_matches_the_calibrated_llama2_70b_serving(result):
    """Llama-2-70B fp8 on one 8-GPU node, decode-only form (KV of 447 tokens, no SLO):
    H100: F = 8 x 1979e12 = 1.5832e16 FLOP/s, eta_F 0.43843 -> compute roof F eta_F / (2 x 70e9 x (1 + 1))
    = 24,790 tokens/s; the calibration counts the rows' own prefill (300 prompt / 294.45 output tokens):
    F eta_F / (2 x 70e9 x 594.45 / 294.45) = 24,559 (ratio 1.0094). MI300X: 8 x 2614.9e12 x 0.29997 / 2.8e11
    = 22,411. The node is compute-bound: at the 2,048 batch cap the step's weights + KV read
    (70 GB + 2,048 x 447 x 147 kB) at 0.7 x 26.8 TB/s takes 11 ms, the compute 86 ms."""
    workloads = pd.DataFrame({"kind": "inference", "params_b": 70.0, "precision": "fp8", "tokens_b": np.nan,
                              "context_tokens": 300 + 294.45 / 2, "min_tokens_per_s_per_user": np.nan,
                              "mfu": np.nan}, index=pd.Index(["llama2-70b"], name="workload"))
    estimate = estimate_performance(_reference_nodes(), workloads, NO_OVERRIDES)["tokens_per_s_per_node"]
    assert estimate[("llama2-70b", "h100")] == pytest.approx(1.5832e16 * 0.43843329 / 2.8e11)
    assert estimate[("llama2-70b", "mi300x")] == pytest.approx(8 * 2614.9e12 * 0.29997218 / 2.8e11)
    serving = result.serving
    for sku, generation in [("h100", "hopper"), ("mi300x", "cdna3")]:
        rows = serving[serving["result"].str.contains("llama2-70b") & (serving["generation"] == generation)]
        model = rows["model_tokens_per_s"] / rows["accelerator_count"] * 8
        np.testing.assert_allclose(model, estimate[("llama2-70b", sku)] * (1 + 1) / (1 + 300 / 294.45), rtol=1e-6)


# ------------------------------------------------------------------------- hand-worked functions

def test_training_mfu_function_by_hand():
    """H100 at 8B: 0.26210724 x (8/70)^0.11477889 = 0.204341; 1B is clipped to the fitted 2.2B: 0.176199;
    1000B extrapolates beyond the largest run (405B): 0.26210724 x (1000/70)^0.11477889 = 0.355662; 100,000B would be
    0.81, capped at the ceiling 0.462 (PaLM's reported MFU); A100 at 70B: its level 0.47680266; MI300X (no runs) and
    GH200: H100's level."""
    mfu = eff.training_mfu(["NVIDIA H100 SXM", "H100", "H100", "H100", "NVIDIA A100 SXM 80GB", "AMD Instinct MI300X",
                            "NVIDIA GH200"], [8.0, 1.0, 1000.0, 100_000.0, 70.0, 70.0, 70.0])
    np.testing.assert_allclose(mfu, [0.204341, 0.176199, 0.355662, 0.462, 0.47680266, 0.26210724, 0.26210724],
                               atol=1e-6)


def test_achieved_flops_fraction_by_generation_and_precision():
    """Fitted where rows exist, else the stated prior (efficiency.py): H100 fp8 Hopper's 0.43843; GB300 fp4
    Blackwell's fitted 0.22176; B200 at fp8 (no Blackwell FP8 rows): the FP8 prior, Hopper's 0.43843; MI355X at fp4
    (no generation of its own): the FP4 prior, Blackwell's 0.22176; MI325X bf16: CDNA 3's own FP8 value 0.29997;
    A100 bf16: Hopper's FP8 value."""
    fraction = eff.achieved_flops_fraction(["NVIDIA H100 SXM", "NVIDIA GB300", "NVIDIA B200", "AMD Instinct MI355X",
                                            "AMD Instinct MI325X", "A100"], ["fp8", "fp4", "fp8", "fp4", "bf16", "bf16"])
    np.testing.assert_allclose(fraction, [0.43843329, 0.22175656, 0.43843329, 0.22175656, 0.29997218, 0.43843329])


def test_rate_precision_is_the_rate_the_card_runs_at():
    """fp4 on H100 (no FP4 rate) runs at FP8, so it takes Hopper's FP8 fraction, not Blackwell's FP4 prior; fp4 on
    B200 at FP4; fp8 on A100 (no FP8 rate) at BF16."""
    catalog = pd.DataFrame({"bf16_tflops": [989.5, 2250.0, 312.0], "fp8_tflops": [1979.0, 4500.0, np.nan],
                            "fp4_tflops": [np.nan, 9000.0, np.nan]})
    rate = rate_precision(catalog, np.array(["fp4", "fp4", "fp8"], dtype=object))
    assert list(rate) == ["fp8", "fp4", "bf16"]


def test_expert_parallel_all_to_all_by_hand():
    """A tiny MoE: 4 layers, 2 experts a token, hidden size 1,000: V = 4 x 2 x 1,000 x 3 B = 24,000 B a token.
    - 16-GPU replica on 8-GPU nodes (450 GB/s NVLink, 50 GB/s scale-out): each GPU moves 24,000 / 16 x 1.3 = 1,950 B,
      7/16 of it over NVLink and 8/16 beyond the node: 1,950 x (7/16 / 450e9 + 8/16 / 50e9) = 2.1395833e-8 s.
    - 8-GPU replica, one node: 24,000 / 8 x 1.3 x 7/8 / 450e9 = 7.583333e-9 s.
    - a dense model, or a one-GPU replica: 0."""
    seconds = ep_all_to_all_s_per_token(np.array([True, True, False, True]), np.full(4, 4.0), np.full(4, 2.0),
                                        np.full(4, 1000.0), np.array([16.0, 8.0, 16.0, 1.0]), np.full(4, 8.0),
                                        np.full(4, 450e9))
    np.testing.assert_allclose(seconds, [2.1395833e-8, 7.583333e-9, 0.0, 0.0], rtol=1e-7)


def test_fits_recover_a_known_model():
    """Runs generated exactly from levels A 0.5, B 0.25 and exponent 0.1 (at 7B: 0.5 x 0.1^0.1 = 0.397164, ...)
    are fitted back exactly."""
    sizes = np.array([7.0, 70.0, 700.0, 7.0, 70.0])
    accelerators = np.array(["A", "A", "A", "B", "B"])
    level = np.where(accelerators == "A", 0.5, 0.25)
    rows = pd.DataFrame({"accelerator": accelerators, "active_params_b": sizes,
                         "implied_mfu": level * (sizes / 70.0) ** 0.1})
    assert rows["implied_mfu"].iloc[0] == pytest.approx(0.397164, abs=1e-6)
    fit = fit_training(rows)
    assert fit.levels["A"] == pytest.approx(0.5, abs=1e-9) and fit.levels["B"] == pytest.approx(0.25, abs=1e-9)
    assert fit.exponent == pytest.approx(0.1, abs=1e-9) and fit.params_b_range == (7.0, 700.0)


def test_serving_fit_through_the_planner_is_the_minimax_of_compute_bound_rows(result):
    """The two fitted MI300X Llama-2-70B rows (v4.1; v5.1 is held out) are compute-bound in estimate_performance, so
    tokens/s is proportional to eta_F and the minimax fraction is 2 / (1/f_min + 1/f_max) of their implied fractions
    (0.284 Server and 0.318 Offline -> 0.29997, errors +-5.6 %). Each implied fraction reproduces its row through the planner:
    8 x 2614.9e12 x f / (2 x 70e9 x (300 + 294.45) / 294.45) = published tokens/s. With only one of them the
    group gets no constant."""
    rows = result.serving[(result.serving["generation"] == "cdna3") & (result.serving["role"] == FIT)]
    implied = rows["implied_fraction"].to_numpy()
    fit = fit_serving(rows)
    assert fit == {("cdna3", "fp8"): pytest.approx(2.0 / (1.0 / implied.min() + 1.0 / implied.max()), rel=1e-9)}
    flops_per_output_token = 2 * 70e9 * (300 + 294.45) / 294.45
    np.testing.assert_allclose(8 * 2614.9e12 * implied / flops_per_output_token, rows["published_tokens_per_s"],
                               rtol=1e-9)
    assert fit_serving(rows.iloc[:1]) == {}


def test_moe_training_mfu_and_compute_follow_the_active_parameters():
    """JetMoE-8B entered as the planner takes it (params_b 8, active_params_b 2.2, no mfu) on an 8 x H100 node:
    MFU = training_mfu at 2.2B active = 0.26210724 x (2.2/70)^0.11477889 = 0.176199 (the fitted range's low end), not
    the 8B value 0.204341; tokens/s per node = 8 x 989.5e12 x 0.176199 / (6 x 2.2e9) = 105,666; model state on all
    8B parameters: 16 x 8e9 = 128 GB fits one node's 576 GB usable."""
    workloads = pd.DataFrame({"kind": "training", "params_b": 8.0, "active_params_b": 2.2, "precision": "bf16",
                              "tokens_b": 1.0, "context_tokens": np.nan, "min_tokens_per_s_per_user": np.nan,
                              "mfu": np.nan}, index=pd.Index(["jetmoe"], name="workload"))
    estimate = estimate_performance(_reference_nodes().loc[["h100"]], workloads, NO_OVERRIDES).loc[("jetmoe", "h100")]
    assert estimate["mfu"] == pytest.approx(0.176199, abs=1e-6)
    assert estimate["tokens_per_s_per_node"] == pytest.approx(8 * 989.5e12 * 0.176199 / (6 * 2.2e9), rel=1e-5)
    assert estimate["tokens_per_s_per_node"] == pytest.approx(105_666, abs=1)
    assert estimate["min_nodes"] == 1


def test_the_manual_tables_are_a_fresh_fit(result):
    """docs/performance-model.md shows this fit: the tables between its calibration markers are markdown_tables()
    of a fresh calibration (`python bench/calibrate.py --page docs/performance-model.md` rewrites them)."""
    text = PAGE.read_text(encoding="utf-8")
    begin, end = "<!-- calibration:begin -->\n", "<!-- calibration:end -->"
    assert begin in text and end in text, "docs/performance-model.md has lost its calibration markers"
    shown = text.split(begin, 1)[1].split(end, 1)[0]
    assert shown == markdown_tables(result), "stale: run python bench/calibrate.py --page docs/performance-model.md"
