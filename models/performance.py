"""Performance model: how many nodes a workload needs and how many tokens/s each node delivers.

Pure numpy/pandas, no I/O. One public entry point, :func:`estimate_performance`, evaluates every
workload x SKU pair at once (a cross-product frame, no per-pair Python loop).

The model, numbered as in the README (section "Performance model"):

1. Peak rate of a node for a precision: ``peak_flops_per_node = gpus_per_node * tflops * 1e12`` with
   ``tflops = bf16_tflops`` for bf16 and ``fp8_tflops`` for fp8/int8/int4; a card without FP8
   (``fp8_tflops`` NaN) runs quantised workloads as weight-only quantisation at the bf16 rate.
2. Training: ``tokens_per_s_per_node = peak_flops_per_node * mfu / (6 * N)`` (6 N D FLOPs,
   Kaplan et al. 2020); ``node_hours = D / tokens_per_s_per_node / 3600``. ``mfu`` is the workload's, else
   ``models.efficiency.training_mfu`` (a fitted function of the accelerator and the model's size).
   Memory: ``TRAINING_BYTES_PER_PARAM * N`` must fit in ``USABLE_HBM_FRACTION`` of the replica's HBM.
3. Inference: a replica spans ``min_nodes`` nodes (fewest whose usable HBM holds the weights plus the
   KV cache of one sequence). Decode step time at batch ``b`` is the roofline
   ``max(b * 2N * (1 + r) / (F * eta_F), (W + b * K) / (B * eta_B))`` (F, B = replica peak FLOP/s and
   bytes/s; W = weight bytes; K = KV bytes of one sequence; eta_F, eta_B from models.efficiency, eta_F per
   accelerator generation and precision; r = SIMPLE_FORM_PROMPT_TOKENS_PER_OUTPUT_TOKEN charges prefill).
   ``b`` is the largest batch that fits the KV memory left after the weights, the batch cap and the
   per-user SLO (``1 / step_time >= min_tokens_per_s_per_user``).
   ``tokens_per_s_per_node = b / step_time / min_nodes``.
4. Measured throughput overrides replace step 2/3's estimate; an override of 0 makes the pair ineligible.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.efficiency import (ACHIEVED_BANDWIDTH_FRACTION, achieved_flops_fraction, catalog_accelerator_labels,
                               training_mfu)
from models.units import BYTES_PER_GB, BYTES_PER_TB, FLOPS_PER_TFLOPS, SECONDS_PER_HOUR

# --- What the inputs' `_b` columns count (billions) -----------------------------------------------
PARAMS_PER_B = 1e9
TOKENS_PER_B = 1e9

# --- Shared memory assumption ---------------------------------------------------------------------
# Fraction of HBM a job may fill; the rest is CUDA context, allocator fragmentation and workspace.
# Source: vLLM's default `gpu_memory_utilization=0.9` (vLLM engine arguments documentation).
USABLE_HBM_FRACTION = 0.90

# --- Training -------------------------------------------------------------------------------------
# Training FLOPs per parameter per token: forward 2 + backward 4 (Kaplan et al. 2020,
# "Scaling Laws for Neural Language Models", C = 6 N D). Attention FLOPs are not counted, so they
# are absorbed by the MFU defaults below, which are calibrated against the same 6 N D.
TRAINING_FLOPS_PER_PARAM_PER_TOKEN = 6.0

# Mixed-precision Adam model state: bf16 weights 2 + bf16 grads 2 + fp32 master weights 4 + Adam
# first moment 4 + second moment 4 = 16 B/param (Rajbhandari et al. 2020, ZeRO, Section 3.1:
# "2Ψ + 2Ψ + KΨ" with K = 12). Activations are assumed recomputed (activation checkpointing) and
# are not counted. Used for every precision: FP8 training keeps the same master/optimizer state.
TRAINING_BYTES_PER_PARAM = 16.0

# Effective MFU default (6 N D / (GPU-hours x 3600 x dense peak), restarts and downtime included): a
# function of the accelerator and the model's size, fitted on training_runs.csv (models/efficiency.py,
# README section "Calibration"). A workload's own `mfu` replaces it.

# A training run may use as many nodes as the plan gives it; this cap only rejects models whose
# optimizer state alone would need an implausible cluster. 4096 nodes = 32,768 GPUs, twice the largest
# published run (Llama 3.1 405B: 16,384 H100s, training_runs.csv).
MAX_NODES_PER_TRAINING_RUN = 4096

# --- Inference ------------------------------------------------------------------------------------
# Weight bytes per parameter for each serving precision.
WEIGHT_BYTES_PER_PARAM = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
# KV-cache bytes per stored value: 16-bit for bf16 serving, 8-bit (FP8/INT8 KV cache, as TensorRT-LLM
# and vLLM offer) for every quantised precision, including int4 weight-only.
KV_CACHE_BYTES_PER_VALUE = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 1.0}
# FLOPs per generated token in decode: one multiply-add per parameter.
DECODE_FLOPS_PER_PARAM_PER_TOKEN = 2.0

# KV heuristic from Llama-style GQA shapes: bytes/token = 2 (K and V) * layers * kv_heads * head_dim
# * bytes. Llama 3 8B / 70B / 3.1 405B all use 8 KV heads of dimension 128 (Llama Team 2024,
# "The Llama 3 Herd of Models", Table 3; Llama 2 70B has the same 80 x 8 x 128 shape). Their layer
# counts 32 / 80 / 126 are fitted by least squares in log-log: layers = 16.1 * params_b ** 0.352
# (8B -> 33.5, 70B -> 71.9, 405B -> 132.8, i.e. within 11%). Models with full multi-head attention
# (e.g. Llama 2 7B, 32 KV heads) have a ~4x larger cache than this predicts.
KV_HEADS_LLAMA_GQA = 8
KV_HEAD_DIM_LLAMA = 128
KV_LAYERS_COEF = 16.1
KV_LAYERS_EXPONENT = 0.352

# Achieved fractions of peak FLOP/s and HBM bandwidth: models/efficiency.py (fitted on the MLPerf rows of
# inference_benchmarks.csv, README section "Calibration"). The FLOP/s fraction counts prefill FLOPs
# (2N per prompt token); this decode-only form charges each generated token the prefill of an equally long
# prompt, MLPerf Llama-2-70B's mix (about 300 prompt and 294.45 output tokens per sample,
# inference_benchmarks.csv notes), which the earlier single calibrated fraction (0.187) absorbed implicitly.
SIMPLE_FORM_PROMPT_TOKENS_PER_OUTPUT_TOKEN = 1.0
# Largest decode batch per GPU of a replica: vLLM's default `max_num_seqs=256` per engine, counted per
# GPU because a node may run one engine per GPU when the model fits.
MAX_BATCH_PER_GPU = 256
# Serving replicas larger than 8 nodes (64 GPUs) are not considered: Meta serves Llama 3.1 405B BF16 on
# 2 nodes with pipeline parallelism (Llama 3 Herd, Section 6); beyond 8 nodes pipeline bubbles and
# cross-node latency make interactive serving impractical.
MAX_NODES_PER_INFERENCE_REPLICA = 8
# Mean KV-cache length used when an inference workload leaves context_tokens empty.
DEFAULT_CONTEXT_TOKENS = 2048.0

OUTPUT_COLUMNS = [
    "eligible", "reason", "min_nodes", "tokens_per_s_per_node", "node_hours", "gpu_hours",
    "kwh_per_node_hour", "mfu",
]


def kv_bytes_per_token(params_b: np.ndarray | float, kv_bytes_per_value: np.ndarray | float) -> np.ndarray:
    """KV-cache bytes one token adds, from the Llama GQA shape heuristic (see KV_LAYERS_COEF)."""
    layers = KV_LAYERS_COEF * np.power(np.asarray(params_b, dtype=float), KV_LAYERS_EXPONENT)
    return 2.0 * layers * KV_HEADS_LLAMA_GQA * KV_HEAD_DIM_LLAMA * np.asarray(kv_bytes_per_value, dtype=float)


def _fmt(values: np.ndarray, pattern: str) -> np.ndarray:
    """Format a float array element-wise (printf style) for reason strings."""
    return np.char.mod(pattern, np.asarray(values, dtype=float))


def _empty_result() -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays([[], []], names=["workload", "sku"])
    return pd.DataFrame({
        "eligible": pd.Series(dtype=bool), "reason": pd.Series(dtype=object),
        "min_nodes": pd.Series(dtype="int64"), **{c: pd.Series(dtype=float) for c in OUTPUT_COLUMNS[3:]},
    }).set_axis(index)


def estimate_performance(catalog: pd.DataFrame, workloads: pd.DataFrame, throughput: pd.DataFrame) -> pd.DataFrame:
    """Nodes, throughput and energy for every workload x SKU pair, so the optimiser only sees feasible pairs.

    Returns a frame indexed by (workload, sku) with the columns in OUTPUT_COLUMNS; see the module
    docstring for the model and the README (section "Performance model") for the constants' sources.
    """
    if len(catalog) == 0 or len(workloads) == 0:
        return _empty_result()

    index = pd.MultiIndex.from_product([workloads.index, catalog.index], names=["workload", "sku"])
    w = workloads.reindex(index.get_level_values("workload"))
    c = catalog.reindex(index.get_level_values("sku"))

    is_training = (w["kind"] == "training").to_numpy()
    precision = w["precision"].astype(str).to_numpy()
    params = w["params_b"].to_numpy(dtype=float) * PARAMS_PER_B
    gpus_per_node = c["gpus_per_node"].to_numpy(dtype=float)
    hbm_bytes_per_node = gpus_per_node * c["hbm_gb"].to_numpy(dtype=float) * BYTES_PER_GB
    usable_bytes_per_node = USABLE_HBM_FRACTION * hbm_bytes_per_node
    bw_bytes_per_s_per_node = gpus_per_node * c["hbm_tbps"].to_numpy(dtype=float) * BYTES_PER_TB

    # (1) Peak FLOP/s at the workload precision; weight-only quantisation where FP8 is missing.
    bf16_tflops = c["bf16_tflops"].to_numpy(dtype=float)
    fp8_tflops = c["fp8_tflops"].to_numpy(dtype=float)
    wants_low_precision = precision != "bf16"
    tflops = np.where(wants_low_precision & ~np.isnan(fp8_tflops), fp8_tflops, bf16_tflops)
    peak_flops_per_node = gpus_per_node * tflops * FLOPS_PER_TFLOPS

    # (2) Training.
    accelerator_label = catalog_accelerator_labels(catalog).reindex(index.get_level_values("sku")).to_numpy()
    mfu_default = training_mfu(accelerator_label, w["params_b"].to_numpy(dtype=float))
    mfu_given = w["mfu"].to_numpy(dtype=float) if "mfu" in w else np.full(len(index), np.nan)
    mfu = np.where(np.isnan(mfu_given), mfu_default, mfu_given)
    train_bytes = TRAINING_BYTES_PER_PARAM * params
    train_min_nodes = np.ceil(train_bytes / usable_bytes_per_node)
    train_tokens_per_s_per_node = peak_flops_per_node * mfu / (TRAINING_FLOPS_PER_PARAM_PER_TOKEN * params)

    # (3) Inference roofline.
    weight_bytes = pd.Series(precision).map(WEIGHT_BYTES_PER_PARAM).to_numpy(dtype=float) * params
    kv_value_bytes = pd.Series(precision).map(KV_CACHE_BYTES_PER_VALUE).to_numpy(dtype=float)
    context = w["context_tokens"].to_numpy(dtype=float)
    context = np.where(np.isnan(context), DEFAULT_CONTEXT_TOKENS, context)
    kv_bytes_per_seq = kv_bytes_per_token(w["params_b"].to_numpy(dtype=float), kv_value_bytes) * context
    infer_bytes = weight_bytes + kv_bytes_per_seq
    infer_min_nodes = np.ceil(infer_bytes / usable_bytes_per_node)

    replica_nodes = np.maximum(infer_min_nodes, 1.0)
    flops_eff = (replica_nodes * peak_flops_per_node * achieved_flops_fraction(accelerator_label, precision)
                 / (1.0 + SIMPLE_FORM_PROMPT_TOKENS_PER_OUTPUT_TOKEN))
    bw_eff = replica_nodes * bw_bytes_per_s_per_node * ACHIEVED_BANDWIDTH_FRACTION
    flops_per_token = DECODE_FLOPS_PER_PARAM_PER_TOKEN * params
    slo = w["min_tokens_per_s_per_user"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        batch_kv = np.floor((replica_nodes * usable_bytes_per_node - weight_bytes) / kv_bytes_per_seq)
        batch_cap = MAX_BATCH_PER_GPU * gpus_per_node * replica_nodes
        step_budget_s = np.where(np.isnan(slo), np.inf, 1.0 / slo)
        batch_slo = np.floor(np.minimum(step_budget_s * flops_eff / flops_per_token,
                                        (step_budget_s * bw_eff - weight_bytes) / kv_bytes_per_seq))
        batch = np.minimum(np.minimum(batch_kv, batch_cap), batch_slo)

        def step_s(b: np.ndarray) -> np.ndarray:
            return np.maximum(b * flops_per_token / flops_eff, (weight_bytes + b * kv_bytes_per_seq) / bw_eff)

        best_user_tokens_per_s = 1.0 / step_s(np.ones_like(batch))
        slo_unreachable = ~is_training & ~np.isnan(slo) & (batch < 1.0)
        batch = np.maximum(batch, 1.0)
        infer_tokens_per_s_per_node = batch / step_s(batch) / replica_nodes

    # (4) Assemble, then apply measured overrides.
    min_nodes = np.where(is_training, train_min_nodes, infer_min_nodes)
    tokens_per_s_per_node = np.where(is_training, train_tokens_per_s_per_node, infer_tokens_per_s_per_node)
    node_limit = np.where(is_training, MAX_NODES_PER_TRAINING_RUN, MAX_NODES_PER_INFERENCE_REPLICA)
    too_big = min_nodes > node_limit

    override = _override_series(throughput, index).to_numpy(dtype=float)
    has_override = ~np.isnan(override)
    override_zero = has_override & (override <= 0.0)
    tokens_per_s_per_node = np.where(has_override, override, tokens_per_s_per_node)

    needs = np.where(is_training, "weights+grads+Adam", "weights + KV cache of one " +
                     pd.Series(_fmt(context, "%.0f")).to_numpy(dtype=object) + "-token sequence")
    reason_fit = ("needs " + pd.Series(_fmt(np.where(is_training, train_bytes, infer_bytes) / BYTES_PER_GB, "%.0f"))
                  + " GB of HBM for " + pd.Series(needs) + "; "
                  + pd.Series(_fmt(min_nodes, "%.0f")) + " nodes exceed the "
                  + pd.Series(_fmt(node_limit, "%.0f"))
                  + np.where(is_training, "-node training run limit", "-node replica limit")).to_numpy(dtype=object)
    reason_slo = ("per-user SLO " + pd.Series(_fmt(slo, "%g")) + " tokens/s unreachable: best "
                  + pd.Series(_fmt(best_user_tokens_per_s, "%.1f")) + " tokens/s at batch 1").to_numpy(dtype=object)

    # A positive measurement proves the pair runs, so it wins over the modelled fit and SLO checks.
    reason = np.select(
        [override_zero, has_override, too_big, slo_unreachable],
        ["throughput override is 0", "", reason_fit, reason_slo],
        default="",
    ).astype(object)
    eligible = reason == ""

    tokens_total = w["tokens_b"].to_numpy(dtype=float) * TOKENS_PER_B
    with np.errstate(divide="ignore", invalid="ignore"):
        node_hours = np.where(is_training & (tokens_per_s_per_node > 0),
                              tokens_total / tokens_per_s_per_node / SECONDS_PER_HOUR, np.nan)
        # The MFU used; for a measured override, the MFU it implies.
        mfu_used = np.where(has_override, tokens_per_s_per_node * TRAINING_FLOPS_PER_PARAM_PER_TOKEN * params
                            / peak_flops_per_node, mfu)
    mfu_out = np.where(is_training, mfu_used, np.nan)

    return pd.DataFrame({
        "eligible": eligible.astype(bool),
        "reason": reason,
        "min_nodes": min_nodes.astype("int64"),
        "tokens_per_s_per_node": tokens_per_s_per_node.astype(float),
        "node_hours": node_hours,
        "gpu_hours": node_hours * gpus_per_node,
        "kwh_per_node_hour": c["node_kw"].to_numpy(dtype=float) * 1.0,
        "mfu": mfu_out,
    }, index=index)


def _override_series(throughput: pd.DataFrame, index: pd.MultiIndex) -> pd.Series:
    """Measured tokens/s per node aligned to `index` (NaN where none); the last row wins on duplicates."""
    if throughput is None or len(throughput) == 0:
        return pd.Series(np.nan, index=index)
    measured = (throughput.drop_duplicates(["workload", "sku"], keep="last")
                .set_index(["workload", "sku"])["tokens_per_s_per_node"].astype(float))
    return measured.reindex(index)
