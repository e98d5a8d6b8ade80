"""Fitted efficiencies of the performance model: effective training MFU and achieved serving FLOP/s fractions.

Pure numpy/pandas, no I/O, and no fitting at run time: every constant below is the output of
`models.calibration` on the reference data (`bench/calibrate.py --constants` prints this block;
tests/test_calibration.py fails when a constant drifts from a fresh fit). README, section "Calibration",
has the rows, in-sample and leave-one-out errors of each constant.

Every function takes arrays (one element per workload x SKU pair) so `models.performance` calls it once:

1. Training: effective MFU = 6 N_active D / (GPU-hours x 3600 x dense peak at the run's precision).
   ``mfu = level[accelerator] * (max(N_active, lo) / 70e9) ** exponent`` — one level per accelerator
   (its MFU at 70B active parameters), one size exponent shared by all accelerators; no extrapolation below the
   smallest fitted run, and above the largest at most TRAINING_MFU_CEILING. MoE runs count their active parameters (compute is
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

from models.units import BYTES_PER_GB

# --- Matching a catalog row to the accelerator its constants were fitted on -----------------------
# A label is the catalog's `accelerator` text plus the SKU, upper-cased; the first key it contains wins.
# H200 and H800 share H100's GH100 compute die (same dense peaks; accelerators.csv notes, H800 = H100 with
# NVLink cut to 400 GB/s), so they take H100's training constants. GH200 matches "H200".
TRAINING_ACCELERATOR_OF_KEY = {"A100": "A100", "H100": "H100", "H200": "H100", "H800": "H100"}
# Serving generations: NVIDIA Hopper (GH100 die), NVIDIA Blackwell (B200, GB200 and Blackwell Ultra B300/GB300: one
# architecture, each card with its own peaks) and AMD CDNA 3 (MI325X has MI300X's compute die and peaks,
# accelerators.csv notes). GB200/GB300 contain "B200"/"B300", so either key matches them.
GENERATION_OF_KEY = {"H100": "hopper", "H200": "hopper", "H800": "hopper", "GB200": "blackwell", "GB300": "blackwell",
                     "B200": "blackwell", "B300": "blackwell", "MI300X": "cdna3", "MI325X": "cdna3"}

# --- Training (fit: models.calibration.fit_training on tests/reference/training_runs.csv) ----------
# Least squares on the relative GPU-hours error (the quantity the targets bound) over the 10 dense/MoE
# runs on A100/H100: Llama 2 7B/13B/70B (A100), Llama 3 8B/70B, Llama 3.1 8B/70B/405B, Phi-3-mini,
# JetMoE-8B (H100). In-sample median |error| 9.8 %, max 32.3 % (Llama 3.1 8B).
TRAINING_MFU_AT_70B_BY_ACCELERATOR = {"A100": 0.47680266, "H100": 0.26210724}
TRAINING_MFU_SIZE_EXPONENT = 0.11477889
TRAINING_MFU_REFERENCE_PARAMS_B = 70.0
# Active sizes of the fitted runs (JetMoE-8B 2.2B .. Llama 3.1 405B). Below the smallest the smallest's MFU; above
# the largest the size law goes on (bigger matrices keep the tensor cores busier: Llama 3.1 405B's effective MFU 0.345
# is 1.25x its 70B sibling's, training_runs.csv), up to TRAINING_MFU_CEILING. A leave-one-out refit without 405B then
# predicts 405B from the 70B runs (README, "Calibration"), where clipping at 70B missed it by +38 %.
TRAINING_MFU_PARAMS_B_RANGE = (2.2, 405.0)
# Ceiling of the extrapolated effective MFU: PaLM 540B's 0.462 reported MFU (training_runs.csv), the highest of any
# run in the reference; an effective MFU (restarts and downtime included) above it is not credible. Assumption.
TRAINING_MFU_CEILING = 0.462
# Accelerators with no run in the reference data (B200, GB200, MI300X, L40S, TPU ...): H100's level, the
# newest generation with runs. Not validated.
DEFAULT_TRAINING_ACCELERATOR = "H100"

# --- Serving (fit: models.calibration.fit_serving on tests/reference/inference_benchmarks.csv) -----
# Per generation and precision, the fraction minimising the largest relative tokens/s error of estimate_performance
# over its MLPerf rows of rounds v4.0-v5.0 (v5.1 is held out, models.calibration.HELD_OUT_ROUNDS): the fraction where
# the largest and smallest errors are equal and opposite. Mixtral and DeepSeek-R1 pay the expert-parallel all-to-all:
#   hopper fp8: 12 rows (Llama-2-70B 8x H100 v4.0-v5.0, Mixtral 8x H100/H200 v4.1-v5.0, Llama 3.1 405B Offline
#               8x H200 v5.0), implied 0.356 .. 0.559;  cdna3 fp8: 2 rows (Llama-2-70B 8x MI300X v4.1);
#   blackwell fp4: 4 rows (Llama 3.1 405B Offline 8x B200 and 72x GB200 v5.0, Mixtral 8x B200 v5.0 Offline and
#               Server), implied 0.198 .. 0.252; tests/reference/inference_benchmarks_added.csv.
ACHIEVED_FLOPS_FRACTION_BY_GENERATION_PRECISION = {("blackwell", "fp4"): 0.22175656, ("cdna3", "fp8"): 0.29997218,
                                                   ("hopper", "fp8"): 0.43843329}
# A (generation, precision) without results of its own takes a stated prior, first found of:
#   1. the precision's fraction on the generation with results at it (FRACTION_PRIOR_GENERATION_BY_PRECISION:
#      FP4 -> Blackwell, FP8 -> Hopper): e.g. an FP4 card without FP4 results (MI355X) takes Blackwell's FP4 value,
#      Blackwell at FP8 takes Hopper's FP8 value; not validated;
#   2. its generation's FP8 fraction (CDNA 3 at BF16: CDNA 3's FP8 value); not validated;
#   3. Hopper's FP8 fraction (generations without results: Ampere, Ada, TPU); not validated.
# "precision" is the rate the card runs the work at (models.performance.rate_precision): a card without an FP4
# rate runs fp4 weights at its FP8 rate, so Hopper serving fp4 takes Hopper's FP8 fraction.
FRACTION_PRIOR_GENERATION_BY_PRECISION = {"fp4": "blackwell", "fp8": "hopper"}
FRACTION_FALLBACK_PRECISION = "fp8"
DEFAULT_SERVING_GENERATION = "hopper"

# --- Expert-parallel all-to-all (models.performance, mixture of experts) ----------------------------
# A mixture of experts is served expert-parallel across its replica: each token's hidden vector goes to the GPUs of its
# k experts and comes back, twice per MoE layer. DeepSeek-V3 (arXiv 2412.19437, section 3.2.2/3.3.1) dispatches in
# FP8 (1 byte a value) and combines in BF16 (2 bytes): 3 bytes per routed value, there and back.
EP_BYTES_PER_ROUTED_VALUE = 3.0
# The busiest GPU's share of routed tokens over the mean: the all-to-all lasts as long as its transfers. Prior, not
# fitted (the MoE rows cannot tell it apart from eta_F: it scales the same tokens' time): 1.3, DeepSeek's
# expert-parallel load balancer (EPLB) replicates hot experts because per-GPU loads differ by tens of percent.
EP_LOAD_IMBALANCE = 1.3
# Scale-up (NVLink) bandwidth per GPU and direction, GB/s: accelerators.csv interconnect_gbps (bidirectional) / 2:
# H100/H200 900 -> 450, B200/GB200/GB300 1,800 -> 900, MI300X/MI325X Infinity Fabric 896 -> 448. Unknown: Hopper's.
SCALE_UP_GBPS_PER_GPU_BY_GENERATION = {"hopper": 450.0, "blackwell": 900.0, "cdna3": 448.0}
# Scale-out bandwidth per GPU and direction, GB/s, for the part of a replica beyond one node (NVLink domain): one
# 400 Gb/s NIC per GPU (DGX H100/B200: 8 x 400 Gb/s ConnectX-7 compute ports; MLPerf v5.1 B200 system description
# "10x 400Gbe Infiniband", 8 compute + 2 storage) = 50 GB/s.
SCALE_OUT_GBPS_PER_GPU = 50.0
# Routed experts per token when a workload does not say (experts_per_token): 8, DeepSeek-V3/R1 and Qwen3-MoE's
# top-8 (Mixtral routes 2): the fine-grained MoEs of 2025-26, and the larger traffic of the two.
DEFAULT_EXPERTS_PER_TOKEN = 8.0
# Hidden size when a workload does not say (hidden_size): a Llama-style layer holds ~12 d^2 of its active parameters
# (attention 4 d^2 + MLP 8 d^2), so d = sqrt(N_active / (12 layers)): DeepSeek-R1 37B / 61 layers -> 7,109 (true 7,168);
# Mixtral 12.9B / 32 -> 5,796 (true 4,096).
HIDDEN_PARAMS_PER_LAYER_PER_D2 = 12.0

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
    """Default effective MFU per element: level[accelerator] x (max(N_active, smallest fitted) / 70B) ** exponent,
    at most TRAINING_MFU_CEILING beyond the largest fitted size.

    The keyword arguments default to the fitted constants; models.calibration passes its own fits.
    """
    accelerator = match_key(labels, TRAINING_ACCELERATOR_OF_KEY, DEFAULT_TRAINING_ACCELERATOR)
    level = pd.Series(accelerator).map(levels).to_numpy(dtype=float)
    size_b = np.maximum(np.broadcast_to(np.asarray(active_params_b, dtype=float), level.shape), params_b_range[0])
    mfu = level * np.power(size_b / TRAINING_MFU_REFERENCE_PARAMS_B, exponent)
    return np.where(size_b > params_b_range[1], np.minimum(mfu, TRAINING_MFU_CEILING), mfu)


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

    def lookup(generations, precisions) -> np.ndarray:
        return table.reindex(pd.MultiIndex.from_arrays([np.asarray(generations, dtype=object),
                                                        np.asarray(precisions, dtype=object)])).to_numpy(dtype=float)

    prior_generation = pd.Series(precision).map(FRACTION_PRIOR_GENERATION_BY_PRECISION).fillna("").to_numpy()
    fallback = np.broadcast_to(FRACTION_FALLBACK_PRECISION, generation.shape)
    candidates = [lookup(generation, precision), lookup(prior_generation, precision), lookup(generation, fallback),
                  lookup(np.broadcast_to(DEFAULT_SERVING_GENERATION, generation.shape), fallback)]
    fraction = candidates[-1]
    for candidate in reversed(candidates[:-1]):
        fraction = np.where(np.isnan(candidate), fraction, candidate)
    return fraction


def scale_up_bytes_per_s(labels: np.ndarray | pd.Series) -> np.ndarray:
    """NVLink-class bandwidth per GPU and direction (bytes/s) of each label's generation; Hopper's when unknown."""
    generation = pd.Series(serving_generation(labels))
    gbps = generation.map(SCALE_UP_GBPS_PER_GPU_BY_GENERATION).fillna(
        SCALE_UP_GBPS_PER_GPU_BY_GENERATION[DEFAULT_SERVING_GENERATION])
    return gbps.to_numpy(dtype=float) * BYTES_PER_GB
