"""Fitted efficiencies of the performance model: effective training MFU and achieved serving FLOP/s fractions.

Pure numpy/pandas, no I/O, and no fitting at run time: every constant below is the output of
`models.calibration` on the reference data (`bench/calibrate.py --constants` prints this block;
tests/test_calibration.py fails when a constant drifts from a fresh fit). README, section "Calibration",
has the rows, in-sample and leave-one-out errors of each constant.

Every function takes arrays (one element per workload x SKU pair) so `models.performance` calls it once:

1. Training: effective MFU = 6 N_active D / (GPU-hours x 3600 x dense peak at the run's precision).
   ``mfu = level[accelerator] * (clip(N_active, lo, hi) / 70e9) ** exponent`` — one level per accelerator
   (its MFU at 70B active parameters), one size exponent shared by all accelerators, no extrapolation
   beyond the active sizes of the fitted runs. MoE runs count their active parameters (compute is
   6 N_active D); total parameters do not enter (JetMoE, 2.2B of 8B active, is fitted within 13 %).
2. Serving: achieved fraction of the dense peak at the serving precision, per accelerator generation,
   on ALL serving FLOPs: 2 N_active per prompt token (prefill) plus 2 N_active per generated token (decode).
   Fitted through models.performance.estimate_performance itself (each MLPerf row as a one-node catalog row and a
   workload with its prompt and output tokens), so the planner uses these fractions exactly as they were fitted.
3. Bandwidth: achieved fraction of peak HBM bandwidth in memory-bound decode. Not identifiable from the
   reference data (every MLPerf row the model covers is compute-bound), so an assumption, not a fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# --- Matching a catalog row to the accelerator its constants were fitted on -----------------------
# A label is the catalog's `accelerator` text plus the SKU, upper-cased; the first key it contains wins.
# H200 and H800 share H100's GH100 compute die (same dense peaks; accelerators.csv notes, H800 = H100 with
# NVLink cut to 400 GB/s), so they take H100's training constants. GH200 matches "H200".
TRAINING_ACCELERATOR_OF_KEY = {"A100": "A100", "H100": "H100", "H200": "H100", "H800": "H100"}
# Serving generations: NVIDIA Hopper (GH100 die) and AMD CDNA 3 (MI325X has MI300X's compute die and
# peaks, accelerators.csv notes).
GENERATION_OF_KEY = {"H100": "hopper", "H200": "hopper", "H800": "hopper", "MI300X": "cdna3", "MI325X": "cdna3"}

# --- Training (fit: models.calibration.fit_training on tests/reference/training_runs.csv) ----------
# Least squares on the relative GPU-hours error (the quantity the targets bound) over the 10 dense/MoE
# runs on A100/H100: Llama 2 7B/13B/70B (A100), Llama 3 8B/70B, Llama 3.1 8B/70B/405B, Phi-3-mini,
# JetMoE-8B (H100). In-sample median |error| 9.8 %, max 32.3 % (Llama 3.1 8B).
TRAINING_MFU_AT_70B_BY_ACCELERATOR = {"A100": 0.47680266, "H100": 0.26210724}
TRAINING_MFU_SIZE_EXPONENT = 0.11477889
TRAINING_MFU_REFERENCE_PARAMS_B = 70.0
# Active sizes of the fitted runs (JetMoE-8B 2.2B .. Llama 3.1 405B): outside it the nearest end's MFU.
TRAINING_MFU_PARAMS_B_RANGE = (2.2, 405.0)
# Accelerators with no run in the reference data (B200, GB200, MI300X, L40S, TPU ...): H100's level, the
# newest generation with runs. Not validated.
DEFAULT_TRAINING_ACCELERATOR = "H100"

# --- Serving (fit: models.calibration.fit_serving on tests/reference/inference_benchmarks.csv) -----
# Per generation, the fraction minimising the largest relative tokens/s error of estimate_performance over its
# MLPerf rows: 2 / (1/f_min + 1/f_max) of the fractions the rows imply (the extreme rows are compute-bound; all FP8):
#   hopper: 12 rows (Llama-2-70B 8x H100 v4.0-v5.0, Mixtral 8x H100/H200 v4.1-v5.0, Llama 3.1 405B Offline
#           8x H200 v5.0), implied 0.338 .. 0.559;  cdna3: 3 rows (Llama-2-70B 8x MI300X v4.1, v5.1).
ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION = {("hopper", "fp8"): 0.42131437, ("cdna3", "fp8"): 0.32353368}
# The reference has FP8 results only: other precisions use their generation's FP8 fraction (of their own
# peak), and generations without results (Ampere, Blackwell, Ada, TPU) use Hopper's. Not validated.
FRACTION_FALLBACK_PRECISION = "fp8"
DEFAULT_SERVING_GENERATION = "hopper"

# Achieved fraction of peak HBM bandwidth in memory-bound decode ("model bandwidth utilisation"). 0.70 sits
# in the 60-85 % range quoted for vLLM / TensorRT-LLM decode (open-source-ai.tech glossary, "model bandwidth
# utilization"). Assumption: no reference row the model covers is memory-bound.
ACHIEVED_BANDWIDTH_FRACTION = 0.70


def catalog_accelerator_labels(catalog: pd.DataFrame) -> pd.Series:
    """Per-SKU label the efficiency keys are matched in: the `accelerator` text and the SKU name, upper-cased."""
    label = catalog.get("accelerator", pd.Series("", index=catalog.index)).fillna("").astype(str)
    return (label + " " + catalog.index.astype(str)).str.upper()


def match_key(labels: np.ndarray | pd.Series, mapping: dict[str, str], default: str) -> np.ndarray:
    """mapping[first key contained in each label] (case-insensitive), `default` where none is."""
    upper = pd.Series(np.asarray(labels, dtype=str)).str.upper()
    conditions = [upper.str.contains(key.upper(), regex=False).to_numpy() for key in mapping]
    return np.select(conditions, list(mapping.values()), default=default).astype(object)


def training_mfu(labels: np.ndarray | pd.Series, active_params_b: np.ndarray | pd.Series | float, *,
                 levels: dict[str, float] = TRAINING_MFU_AT_70B_BY_ACCELERATOR,
                 exponent: float = TRAINING_MFU_SIZE_EXPONENT,
                 params_b_range: tuple[float, float] = TRAINING_MFU_PARAMS_B_RANGE) -> np.ndarray:
    """Default effective MFU per element: level[accelerator] x (clip(N_active, range) / 70B) ** exponent.

    The keyword arguments default to the fitted constants; models.calibration passes its own fits.
    """
    accelerator = match_key(labels, TRAINING_ACCELERATOR_OF_KEY, DEFAULT_TRAINING_ACCELERATOR)
    level = pd.Series(accelerator).map(levels).to_numpy(dtype=float)
    size_b = np.clip(np.broadcast_to(np.asarray(active_params_b, dtype=float), level.shape), *params_b_range)
    return level * np.power(size_b / TRAINING_MFU_REFERENCE_PARAMS_B, exponent)


def serving_generation(labels: np.ndarray | pd.Series) -> np.ndarray:
    """Serving generation per label; DEFAULT_SERVING_GENERATION for accelerators without MLPerf results."""
    return match_key(labels, GENERATION_OF_KEY, DEFAULT_SERVING_GENERATION)


def achieved_flops_fraction(labels: np.ndarray | pd.Series, precision: np.ndarray | pd.Series | str, *,
                            fractions: dict[tuple[str, str], float] = ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION,
                            ) -> np.ndarray:
    """Achieved fraction of the dense peak at `precision` on all serving FLOPs (prefill + decode).

    `fractions` defaults to the fitted constants; models.calibration passes its own fits.
    """
    generation = serving_generation(labels)
    precision = np.broadcast_to(np.asarray(precision, dtype=object), generation.shape)
    table = pd.Series(fractions)
    exact = table.reindex(pd.MultiIndex.from_arrays([generation, precision])).to_numpy(dtype=float)
    fallback = table.xs(FRACTION_FALLBACK_PRECISION, level=1)
    generation_fraction = fallback.reindex(generation).fillna(fallback[DEFAULT_SERVING_GENERATION])
    return np.where(np.isnan(exact), generation_fraction.to_numpy(dtype=float), exact)
