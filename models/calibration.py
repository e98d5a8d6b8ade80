"""Fit the constants of models/efficiency.py to published results, and measure how well they generalise.

No I/O: the callers (bench/calibrate.py, tests/test_calibration.py) read the reference tables
(`training_runs.csv`, `inference_benchmarks.csv`, `accelerators.csv`, columns as in their README) and pass
them in. The run-time model never refits: efficiency.py holds these fits' outputs as plain constants.

Training (effective MFU, GPU-hours):
    implied_mfu_i = 6 N_active,i D_i / (gpu_hours_i * 3600 * peak_i)      (peak: dense, at the run's precision)
    model_mfu_i   = level[acc_i] * (N_active,i / 70B) ** exponent          (efficiency.training_mfu)
    error_i       = model_gpu_hours_i / gpu_hours_i - 1 = implied_mfu_i / model_mfu_i - 1
    The levels and the exponent minimise sum(error_i^2) (scipy.optimize.least_squares), the relative error
    of the quantity the targets bound.
Serving (tokens/s, through the planner's own model):
    model_tokens_per_s_i(f) = models.performance.estimate_performance on one node of the row's accelerators
        (accelerators.csv peaks, memory, bandwidth) serving the row's model (total/active parameters, KV shape,
        precision, the benchmark's mean prompt and output tokens, no SLO), eta_F = f: prefill and decode both.
    implied_fraction_i solves model_tokens_per_s_i(f) = tokens_per_s_i (for a compute-bound row,
        tokens_per_s_i * 2 N_active,i (prompt_i + output_i) / output_i / (accelerators_i * peak_i)).
    Each fraction minimises the largest |model/published - 1| over its rows: the f where the largest and the
    smallest error are equal and opposite (2 / (1/f_min + 1/f_max) when every row is compute-bound).
    Fitting through estimate_performance keeps calibration and run time on one formula.
Leave-one-out: for each fitted row, refit without it (the size range too) and predict it.
A constant needs at least MIN_ROWS_PER_CONSTANT rows; a group with fewer gets none (the default applies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq, least_squares

from models import efficiency as eff
from models.performance import estimate_performance
from models.units import FLOPS_PER_TFLOPS, SECONDS_PER_HOUR

PARAMS_PER_B = 1e9
TOKENS_PER_B = 1e9
TRAINING_FLOPS_PER_PARAM_PER_TOKEN = 6.0  # C = 6 N D (Kaplan et al. 2020), as models.performance
MIN_ROWS_PER_CONSTANT = 2  # no constant is fitted to a single row

FIT = "fit"
# --- Training rows ----------------------------------------------------------------------------------
# The accelerator a run's `hardware` text names (first key found). V100 (GPT-3) and TPU v4 (PaLM) are not in
# accelerators.csv: with no peak they cannot be predicted, and a level of their own would rest on one row.
TRAINING_HARDWARE_KEYS = ("A100", "H100", "H800", "V100", "TPU v4")
# H800 is not in accelerators.csv either, but it is H100's GH100 die with NVLink cut to 400 GB/s (same dense
# peaks): DeepSeek-V3 is predicted with H100's peak and constants, as an out-of-sample check, not fitted.
SAME_COMPUTE_AS = {"H800": "H100"}
# The reference notes flag Llama 3.2 1B/3B (pruned from 8B and distilled from 8B/70B logits) as outliers,
# "not a calibration point for dense pre-training": predicted and shown, not fitted.
DISTILLED_NOTE = "distill"
# DeepSeek-V3's notes: "FP8 mixed-precision training"; every other run trained in BF16.
FP8_TRAINING_NOTE = "FP8 mixed-precision"

# --- Serving rows -----------------------------------------------------------------------------------
# Per MLPerf benchmark: total and active parameters (B), mean prompt and output tokens per sample, KV shape.
# Outputs: MLPerf `tokens_per_sample` in the benchmark rows' notes (Llama-2-70B 294.45, Mixtral 145.9,
# Llama 3.1 405B 684.7). Prompts: the notes' approximations (about 300, 450 and 9,000 tokens; not published
# means). Mixtral 46.7B total / 12.9B active, 32 layers x 8 KV heads x 128, and DeepSeek-R1 671B / 37B: the rows'
# notes. Llama-2-70B 80 x 8 x 128 and Llama 3.1 405B 126 x 8 x 128: Llama 3 Herd, Table 3 (models/performance.py).
# DeepSeek-R1's MLA cache: 61 layers x (512 latent + 64 RoPE) values = 35,136 per token (DeepSeek-V3 technical
# report, arXiv 2412.19437, sections 2.1.1 and 4.2). Its mean output 4,043 tokens: mlcommons/inference
# language/deepseek-r1/README.md ("mean-output-tok-len": 4043.4); its prompts (AIME, MATH500, GPQA, MMLU-Pro,
# LiveCodeBench questions) are not given, so prefill is left out.
# Mixtral routes each token to 2 of 8 experts, hidden size 4,096 (Jiang et al. 2024, arXiv 2401.04088, Table 1);
# DeepSeek-R1 to 8 of 256 routed experts, hidden size 7,168 (DeepSeek-V3 report, section 4.2): the expert-parallel
# all-to-all's inputs (models.performance.ep_all_to_all_s_per_token).
BENCHMARK_SHAPES = pd.DataFrame.from_dict({
    "llama2-70b": (70.0, 70.0, 300.0, 294.45, 80, 8, 128, np.nan, np.nan, np.nan),
    "mixtral-8x7b": (46.7, 12.9, 450.0, 145.9, 32, 8, 128, np.nan, 2.0, 4096.0),
    "llama3.1-405b": (405.0, 405.0, 9000.0, 684.7, 126, 8, 128, np.nan, np.nan, np.nan),
    "deepseek-r1": (671.0, 37.0, 0.0, 4043.4, 61, np.nan, np.nan, 35136.0, 8.0, 7168.0),
}, orient="index", columns=["params_b", "active_params_b", "prompt_tokens", "output_tokens", "layers", "kv_heads",
                            "head_dim", "kv_values_per_token", "experts_per_token", "hidden_size"])
# Rows the roofline cannot represent, with the reason. Llama 3.1 405B Server delivers 0.52 (8x H200) to 0.79
# (72x GB200) of the same system's Offline rate (other Server rows 0.88-0.99): the p99 TTFT limit on prompts of
# ~9,000 tokens caps the load, a queueing effect; DeepSeek-R1 Server delivers 0.50-0.58 of Offline (TTFT/TPOT
# limits on ~3,500-token reasoning outputs). A compute-bound roofline predicts Server = Offline.
EXCLUDED_SERVING = {("llama3.1-405b", "Server"): "excluded: Server at 0.52-0.79 of Offline (TTFT queueing)",
                    ("deepseek-r1", "Server"): "excluded: Server at 0.50-0.58 of Offline (TTFT/TPOT limits)"}
# Held-out split (issue 25, item 4): every result of MLPerf Inference v5.1 (August 2025), the newest round, is never
# fitted; the constants are fitted on v4.0-v5.0 and predict v5.1 out of sample. Software gains between rounds
# (+12 % to +44 % on the same hardware, inference_benchmarks.csv notes) make this split pessimistic, not flattering.
HELD_OUT_ROUNDS = ("v5.1",)
HELD_OUT = "out of sample: held out (round v5.1)"
SERVING_PEAK_COLUMN = {"fp8": "fp8_tflops_dense", "fp4": "fp4_tflops_dense", "bf16": "bf16_tflops_dense"}
# The catalog columns estimate_performance reads, from accelerators.csv's columns.
CATALOG_COLUMN_OF_REFERENCE = {"bf16_tflops": "bf16_tflops_dense", "fp8_tflops": "fp8_tflops_dense",
                               "fp4_tflops": "fp4_tflops_dense", "hbm_gb": "memory_gb", "hbm_tbps": "memory_tbps",
                               "tdp_w": "tdp_w"}
WATTS_PER_KW = 1000.0
# Search interval for an achieved FLOP/s fraction (brentq): any fraction of the peak a result can imply.
FRACTION_BRACKET = (1e-4, 1.0)
NO_OVERRIDES = pd.DataFrame({"workload": pd.Series(dtype=str), "sku": pd.Series(dtype=str),
                             "tokens_per_s_per_node": pd.Series(dtype=float)})


def _first_key(text: pd.Series, keys: tuple[str, ...] | list[str]) -> pd.Series:
    """The first key each text contains (case-insensitive), '' where none."""
    upper = text.fillna("").astype(str).str.upper()
    found = np.select([upper.str.contains(k.upper(), regex=False).to_numpy() for k in keys], list(keys), default="")
    return pd.Series(found, index=text.index)


def _peak_tflops(accelerators: pd.DataFrame, key: pd.Series, precision: pd.Series) -> np.ndarray:
    """Dense peak (TFLOP/s) at each precision of the first accelerators.csv row whose name contains `key`."""
    names = accelerators["accelerator"].astype(str)
    row_of_key = {k: names.index[names.str.contains(k, regex=False)][0] for k in key.unique()
                  if k and names.str.contains(k, regex=False).any()}
    peaks = accelerators.rename(columns={v: k for k, v in SERVING_PEAK_COLUMN.items()})[list(SERVING_PEAK_COLUMN)]
    rows = key.map(row_of_key)
    known = rows.notna().to_numpy()
    found = peaks.stack().reindex(pd.MultiIndex.from_arrays([rows[known].to_numpy(), precision[known].to_numpy()]))
    out = np.full(len(key), np.nan)
    out[known] = found.to_numpy(dtype=float)
    return out


def training_rows(runs: pd.DataFrame, accelerators: pd.DataFrame) -> pd.DataFrame:
    """One row per training run: accelerator, active parameters, precision, peak, implied MFU and role."""
    key = _first_key(runs["hardware"], TRAINING_HARDWARE_KEYS)
    notes = runs["notes"].fillna("").astype(str)
    precision = pd.Series(np.where(notes.str.contains(FP8_TRAINING_NOTE, regex=False), "fp8", "bf16"),
                          index=runs.index)
    peak_tflops = _peak_tflops(accelerators, key.replace(SAME_COMPUTE_AS), precision)
    active_b = runs["active_params_b"].fillna(runs["params_b"]).to_numpy(dtype=float)
    flops = TRAINING_FLOPS_PER_PARAM_PER_TOKEN * active_b * PARAMS_PER_B * runs["tokens_b"].to_numpy(float) * TOKENS_PER_B
    gpu_hours = runs["gpu_hours"].to_numpy(dtype=float)
    fitted = key.isin(list(eff.TRAINING_MFU_AT_70B_BY_ACCELERATOR)).to_numpy()
    role = np.select(
        [np.isnan(peak_tflops), notes.str.contains(DISTILLED_NOTE).to_numpy(), ~fitted],
        ["not predicted: " + key + " not in accelerators.csv", "excluded: pruned + distilled (reference notes)",
         "out of sample: " + key + " (H100 compute)"], default=FIT)
    return pd.DataFrame({
        "run": runs["model"].to_numpy(), "accelerator": key.to_numpy(), "active_params_b": active_b,
        "tokens_b": runs["tokens_b"].to_numpy(dtype=float), "precision": precision.to_numpy(),
        "peak_tflops": peak_tflops, "published_gpu_hours": gpu_hours,
        "implied_mfu": flops / (gpu_hours * SECONDS_PER_HOUR * peak_tflops * FLOPS_PER_TFLOPS), "role": role,
    })


def serving_rows(benchmarks: pd.DataFrame, accelerators: pd.DataFrame) -> pd.DataFrame:
    """One row per MLPerf result: generation, precision, model shape, peak, implied fraction and role."""
    acc = benchmarks["accelerator"].astype(str)
    key = _first_key(acc, list(eff.GENERATION_OF_KEY) + ["B200"])
    generation = key.map(eff.GENERATION_OF_KEY).fillna("")
    precision = pd.Series(np.where(benchmarks["precision"].fillna("").str.contains("FP4"), "fp4", "fp8"),
                          index=benchmarks.index)
    peak_tflops = _peak_tflops(accelerators, acc.where(acc.isin(accelerators["accelerator"]), ""), precision)
    shape_key = _first_key(benchmarks["benchmark"], list(BENCHMARK_SHAPES.index))
    shape = BENCHMARK_SHAPES.reindex(shape_key.to_numpy()).set_axis(benchmarks.index)
    hardware = (accelerators.set_index("accelerator")[list(CATALOG_COLUMN_OF_REFERENCE.values())]
                .set_axis(list(CATALOG_COLUMN_OF_REFERENCE), axis=1).reindex(acc.to_numpy()).set_axis(benchmarks.index))
    count = benchmarks["accelerator_count"].to_numpy(dtype=float)
    tokens_per_s = benchmarks["tokens_per_s"].to_numpy(dtype=float)
    excluded = pd.Series(EXCLUDED_SERVING).reindex(pd.MultiIndex.from_arrays([shape_key, benchmarks["scenario"]]))
    excluded.index = benchmarks.index
    rows = pd.DataFrame({
        "result": ("MLPerf " + benchmarks["round"] + " " + benchmarks["benchmark"] + " " + benchmarks["scenario"]
                   + " " + benchmarks["accelerator_count"].astype(str) + "x " + key).to_numpy(),
        "accelerator": acc.to_numpy(), "generation": generation.to_numpy(), "precision": precision.to_numpy(),
        "accelerator_count": count, "peak_tflops": peak_tflops, "published_tokens_per_s": tokens_per_s,
    })
    rows = pd.concat([rows, shape.reset_index(drop=True), hardware.reset_index(drop=True)], axis=1)
    predictable = np.isfinite(tokens_per_s) & np.isfinite(peak_tflops) & shape_key.ne("").to_numpy()
    rows["implied_fraction"] = np.nan
    rows.loc[predictable, "implied_fraction"] = implied_fractions(rows[predictable])
    implied = rows["implied_fraction"].to_numpy()
    held_out = benchmarks["round"].isin(HELD_OUT_ROUNDS).to_numpy()
    group_size = rows[np.isfinite(implied) & excluded.isna().to_numpy() & (generation != "").to_numpy() & ~held_out] \
        .groupby(["generation", "precision"])["result"].transform("size")
    enough = group_size.reindex(rows.index).fillna(0).to_numpy() >= MIN_ROWS_PER_CONSTANT
    rows["round"] = benchmarks["round"].to_numpy()
    rows["role"] = np.select(
        [~np.isfinite(tokens_per_s), shape_key.eq("").to_numpy(), excluded.notna().to_numpy(), held_out, ~enough],
        ["not predicted: no tokens/s", "not predicted: model shape unknown", excluded.fillna("").to_numpy(), HELD_OUT,
         "out of sample: no other result of its generation and precision"], default=FIT)
    return rows


# --- Fits -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingFit:
    levels: dict[str, float]  # effective MFU at 70B active parameters, per accelerator
    exponent: float
    params_b_range: tuple[float, float]

    def mfu(self, rows: pd.DataFrame) -> np.ndarray:
        return eff.training_mfu(rows["accelerator"].to_numpy(), rows["active_params_b"].to_numpy(),
                                levels=self.levels, exponent=self.exponent, params_b_range=self.params_b_range)


def fit_training(rows: pd.DataFrame) -> TrainingFit:
    """Levels and size exponent minimising the squared relative GPU-hours error over `rows` (all fitted)."""
    accelerators = sorted(rows["accelerator"].unique())
    design = np.column_stack([(rows["accelerator"] == a).to_numpy(float) for a in accelerators]
                             + [np.log(rows["active_params_b"].to_numpy() / eff.TRAINING_MFU_REFERENCE_PARAMS_B)])
    log_mfu = np.log(rows["implied_mfu"].to_numpy())
    start, *_ = np.linalg.lstsq(design, log_mfu, rcond=None)  # log-space fit as the starting point
    solution = least_squares(lambda c: np.exp(log_mfu - design @ c) - 1.0, start, xtol=1e-14, ftol=1e-14,
                             gtol=1e-14).x
    size = rows["active_params_b"]
    return TrainingFit(levels={a: float(np.exp(solution[i])) for i, a in enumerate(accelerators)},
                       exponent=float(solution[-1]), params_b_range=(float(size.min()), float(size.max())))


def _estimate_inputs(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One catalog SKU and one workload per row (same label): the row's system as one node, its model served."""
    label = pd.Index([f"row {i}" for i in rows.index])
    catalog = pd.DataFrame({
        "accelerator": rows["accelerator"].to_numpy(), "gpus_per_node": rows["accelerator_count"].to_numpy(),
        **{column: rows[column].to_numpy(dtype=float) for column in CATALOG_COLUMN_OF_REFERENCE if column != "tdp_w"},
        "node_kw": rows["accelerator_count"].to_numpy() * rows["tdp_w"].to_numpy(dtype=float) / WATTS_PER_KW,
    }, index=label.rename("sku"))
    workloads = pd.DataFrame({
        "kind": "inference", "precision": rows["precision"].to_numpy(),
        **{column: rows[column].to_numpy(dtype=float) for column in BENCHMARK_SHAPES.columns},
        "context_tokens": np.nan, "min_tokens_per_s_per_user": np.nan, "tokens_b": np.nan, "mfu": np.nan,
    }, index=label.rename("workload"))
    return catalog, workloads


def predict_serving_tokens_per_s(rows: pd.DataFrame, fractions: dict[tuple[str, str], float]) -> np.ndarray:
    """Each row's system tokens/s by estimate_performance with eta_F = `fractions` (a one-node system)."""
    catalog, workloads = _estimate_inputs(rows)
    estimate = estimate_performance(catalog, workloads, NO_OVERRIDES, flops_fractions=fractions)
    diagonal = pd.MultiIndex.from_arrays([workloads.index, catalog.index])
    return estimate["tokens_per_s_per_node"].reindex(diagonal).to_numpy()


def _with_fraction(key: tuple[str, str], fraction: float) -> dict[tuple[str, str], float]:
    return {**eff.ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION, key: fraction}


def _fraction_root(balance) -> float:
    """The fraction in FRACTION_BRACKET where the non-decreasing `balance` changes sign; NaN if it does not."""
    low, high = FRACTION_BRACKET
    if not balance(low) < 0.0 < balance(high):
        return np.nan
    return float(brentq(balance, low, high, xtol=1e-12, rtol=1e-12))


def implied_fractions(rows: pd.DataFrame) -> np.ndarray:
    """Per row, the eta_F at which estimate_performance reproduces its published tokens/s."""
    key_of = list(zip(eff.serving_generation(rows["accelerator"]), rows["precision"]))
    return np.array([_fraction_root(lambda f, r=rows.loc[[i]], k=k: _serving_errors(r, _with_fraction(k, f))[0])
                     for i, k in zip(rows.index, key_of)])


def fit_serving(rows: pd.DataFrame) -> dict[tuple[str, str], float]:
    """One fraction per (generation, precision) with at least MIN_ROWS_PER_CONSTANT rows in `rows`: the minimax
    fraction, where the group's largest and smallest errors through estimate_performance are equal and opposite."""
    fits = {}
    for key, group in rows.groupby(["generation", "precision"]):
        if len(group) >= MIN_ROWS_PER_CONSTANT:
            def balance(f: float, group=group, key=key) -> float:
                errors = _serving_errors(group, _with_fraction(key, f))
                return float(errors.max() + errors.min())
            fits[key] = _fraction_root(balance)
    return fits


# --- Evaluation: in-sample and leave-one-out --------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    training_fit: TrainingFit
    serving_fit: dict[tuple[str, str], float]
    training: pd.DataFrame  # training_rows + model_mfu, model_gpu_hours, error, loo_error
    serving: pd.DataFrame  # serving_rows + model_fraction, model_tokens_per_s, error, loo_error
    constants: pd.DataFrame  # one row per fitted constant


def _training_errors(rows: pd.DataFrame, fit: TrainingFit) -> np.ndarray:
    return rows["implied_mfu"].to_numpy() / fit.mfu(rows) - 1.0


def _serving_errors(rows: pd.DataFrame, fractions: dict[tuple[str, str], float]) -> np.ndarray:
    return predict_serving_tokens_per_s(rows, fractions) / rows["published_tokens_per_s"].to_numpy() - 1.0


def _leave_one_out(rows: pd.DataFrame, fit, errors) -> tuple[np.ndarray, list]:
    """Per row: its error under a refit without it, and that refit."""
    refits = [fit(rows.drop(index=i)) for i in rows.index]
    loo = np.array([errors(rows.loc[[i]], refit)[0] for i, refit in zip(rows.index, refits)])
    return loo, refits


def _summary(constant: str, value: float, rows: pd.DataFrame, loo_values: np.ndarray) -> dict:
    return {"constant": constant, "value": value, "rows": len(rows), "row_names": ", ".join(rows["name"]),
            "in_sample_median": float(rows["error"].abs().median()), "in_sample_max": float(rows["error"].abs().max()),
            "loo_median": float(rows["loo_error"].abs().median()), "loo_max": float(rows["loo_error"].abs().max()),
            "loo_value_min": float(np.nanmin(loo_values)), "loo_value_max": float(np.nanmax(loo_values))}


def calibrate(runs: pd.DataFrame, benchmarks: pd.DataFrame, accelerators: pd.DataFrame) -> Calibration:
    """Fit both models on the reference tables and evaluate every row in sample and leave-one-out."""
    training = training_rows(runs, accelerators)
    train_fit_rows = training[training["role"] == FIT]
    training_fit = fit_training(train_fit_rows)
    train_loo, train_refits = _leave_one_out(train_fit_rows, fit_training, _training_errors)
    predictable = np.isfinite(training["peak_tflops"]).to_numpy()
    training["model_mfu"] = np.where(predictable, training_fit.mfu(training), np.nan)
    training["model_gpu_hours"] = training["published_gpu_hours"] * training["implied_mfu"] / training["model_mfu"]
    training["error"] = training["model_gpu_hours"] / training["published_gpu_hours"] - 1.0
    training["loo_error"] = pd.Series(train_loo, index=train_fit_rows.index).reindex(training.index)

    serving = serving_rows(benchmarks, accelerators)
    serve_fit_rows = serving[serving["role"] == FIT]
    serving_fit = fit_serving(serve_fit_rows)
    serve_loo, serve_refits = _leave_one_out(serve_fit_rows, fit_serving, _serving_errors)
    predictable = np.isfinite(serving["implied_fraction"]).to_numpy()
    serving["model_fraction"] = np.where(predictable, eff.achieved_flops_fraction(
        serving["accelerator"].to_numpy(), serving["precision"].to_numpy(), fractions=serving_fit), np.nan)
    serving["model_tokens_per_s"] = np.nan
    serving.loc[predictable, "model_tokens_per_s"] = predict_serving_tokens_per_s(serving[predictable], serving_fit)
    serving["error"] = serving["model_tokens_per_s"] / serving["published_tokens_per_s"] - 1.0
    serving["loo_error"] = pd.Series(serve_loo, index=serve_fit_rows.index).reindex(serving.index)

    fitted_train = training.loc[train_fit_rows.index].assign(name=lambda t: t["run"])
    fitted_serve = serving.loc[serve_fit_rows.index].assign(name=lambda t: t["result"])
    constants = [
        _summary(f"TRAINING_MFU_AT_70B_BY_ACCELERATOR[{acc!r}]", value, fitted_train[fitted_train["accelerator"] == acc],
                 np.array([r.levels[acc] for r in train_refits]))
        for acc, value in training_fit.levels.items()]
    constants.append(_summary("TRAINING_MFU_SIZE_EXPONENT", training_fit.exponent, fitted_train,
                              np.array([r.exponent for r in train_refits])))
    for (generation, precision), value in serving_fit.items():
        in_group = (fitted_serve["generation"] == generation) & (fitted_serve["precision"] == precision)
        constants.append(_summary(f"ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION[({generation!r}, {precision!r})]",
                                  value, fitted_serve[in_group],
                                  np.array([r.get((generation, precision), np.nan) for r in serve_refits])))
    return Calibration(training_fit, serving_fit, training, serving, pd.DataFrame(constants))


# --- Text -------------------------------------------------------------------------------------------

def _pct(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:+.1%}".replace("-", "−")


def _num(x: float, pattern: str = "{:,.0f}") -> str:
    return "" if not np.isfinite(x) else pattern.format(x)


def markdown_tables(result: Calibration) -> str:
    """The calibration tables of docs/performance-model.md: the constants, then every reference row's estimate."""
    lines = [("| constant | value | rows | in-sample median / max \\|error\\| | leave-one-out median / max "
              "\\|error\\| | value in LOO refits |"), "|---|---:|---:|---:|---:|---:|"]
    for c in result.constants.itertuples():
        lines.append(f"| `{c.constant}` | {c.value:.4f} | {c.rows} | {c.in_sample_median:.1%} / {c.in_sample_max:.1%}"
                     f" | {c.loo_median:.1%} / {c.loo_max:.1%} | {c.loo_value_min:.4f} – {c.loo_value_max:.4f} |")
    lines += ["", "**Training GPU-hours** (error = model / published − 1; LOO = refit without the row).", "",
              ("| run | GPU | active B | precision | role | published GPU-h | implied MFU | model MFU | model GPU-h "
               "| error | LOO error |"), "|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in result.training.itertuples():
        lines.append(f"| {r.run} | {r.accelerator} | {r.active_params_b:g} | {r.precision} | {r.role} "
                     f"| {_num(r.published_gpu_hours)} | {_num(r.implied_mfu, '{:.3f}')} | {_num(r.model_mfu, '{:.3f}')} "
                     f"| {_num(r.model_gpu_hours)} | {_pct(r.error)} | {_pct(r.loo_error)} |")
    lines += ["", "**Serving tokens/s** (MLPerf Inference datacenter closed, whole system; prefill counted).", "",
              ("| result | precision | role | published tokens/s | implied fraction | model fraction | model tokens/s "
               "| error | LOO error |"), "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in result.serving.itertuples():
        lines.append(f"| {r.result} | {r.precision} | {r.role} | {_num(r.published_tokens_per_s)} "
                     f"| {_num(r.implied_fraction, '{:.3f}')} | {_num(r.model_fraction, '{:.3f}')} "
                     f"| {_num(r.model_tokens_per_s)} | {_pct(r.error)} | {_pct(r.loo_error)} |")
    held = result.serving[result.serving["role"] == HELD_OUT]
    dense = held[~held["result"].str.contains("deepseek")]
    train_loo = result.training["loo_error"].abs()
    lines += ["", "**Out of sample** (issue 25 item 4; targets: training median ≤ 10 %, max ≤ 30 %; inference median "
              "≤ 15 %, max ≤ 30 %).", "",
              "| rows | never fitted by | n | median \\|error\\| | max \\|error\\| |", "|---|---|---:|---:|---:|",
              f"| training runs | their leave-one-out refit | {train_loo.notna().sum()} | {train_loo.median():.1%} "
              f"| {train_loo.max():.1%} |",
              f"| MLPerf v5.1, all | the v4.0–v5.0 fit | {len(held)} | {held['error'].abs().median():.1%} "
              f"| {held['error'].abs().max():.1%} |",
              f"| MLPerf v5.1 without DeepSeek-R1 | the v4.0–v5.0 fit | {len(dense)} "
              f"| {dense['error'].abs().median():.1%} | {dense['error'].abs().max():.1%} |"]
    return "\n".join(lines) + "\n"


def constants_source(result: Calibration) -> str:
    """The constant definitions of models/efficiency.py as this fit gives them (8 decimals)."""
    levels = ", ".join(f"{k!r}: {v:.8f}" for k, v in result.training_fit.levels.items())
    fractions = ", ".join(f"{k!r}: {v:.8f}" for k, v in result.serving_fit.items())
    low, high = result.training_fit.params_b_range
    return (f"TRAINING_MFU_AT_70B_BY_ACCELERATOR = {{{levels}}}\n"
            f"TRAINING_MFU_SIZE_EXPONENT = {result.training_fit.exponent:.8f}\n"
            f"TRAINING_MFU_PARAMS_B_RANGE = ({low:g}, {high:g})\n"
            f"ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION = {{{fractions}}}\n")
