"""Performance model: how many nodes a workload needs and how many tokens/s each node delivers.

Pure numpy/pandas, no I/O. One public entry point, :func:`estimate_performance`, evaluates every
workload x SKU pair at once (a cross-product frame, no per-pair Python loop).

The model, numbered as in the README (section "Performance model"). N = total parameters (memory),
N_a = parameters active per token (compute; N_a = N for a dense model, fewer for a mixture of experts):

1. Peak rate of a node for a precision: ``peak_flops_per_node = gpus_per_node * tflops * 1e12`` with
   ``tflops = bf16_tflops`` for bf16, ``fp8_tflops`` for fp8/int8/int4 and ``fp4_tflops`` for fp4. A card
   without the precision's rate runs it as weight-only quantisation at the next rate it has
   (fp4 -> fp8 -> bf16).
2. Training: ``tokens_per_s_per_node = peak_flops_per_node * mfu / (6 * N_a)`` (6 N D FLOPs,
   Kaplan et al. 2020); ``node_hours = D / tokens_per_s_per_node / 3600``. ``mfu`` is the workload's, else
   ``models.efficiency.training_mfu`` (a fitted function of the accelerator and N_a).
   Memory: ``TRAINING_BYTES_PER_PARAM * N`` must fit in ``USABLE_HBM_FRACTION`` of the run's HBM.
3. Inference: a replica spans the fewest groups of ``min(gpus_per_node, TENSOR_PARALLEL_GROUP_GPUS)`` GPUs
   whose usable HBM holds the weights ``W`` (N at the precision's bytes) plus the KV cache of one sequence
   ``K``; ``min_nodes`` is the nodes those GPUs span. With F, B the replica's peak FLOP/s and bytes/s, a
   decode step at batch ``b`` takes the roofline
   ``t(b) = max(b * 2 N_a / (F * eta_F), (min(W, b * W_a) + b * K) / (B * eta_B))``
   (W_a = the active parameters' bytes: a batch reads at most the experts its tokens touch).
   Each request also costs the replica ``t_pf = 2 N_a P / (F * eta_F)`` of prefill, spread over its O decode
   steps: ``tau(b) = t(b) + b * t_pf / O``. P and O are the workload's ``prompt_tokens`` and ``output_tokens``;
   the simple form (``context_tokens`` only) takes P / O = SIMPLE_FORM_PROMPT_TOKENS_PER_OUTPUT_TOKEN. eta_F
   (models.efficiency, per accelerator generation and precision) is fitted through this very function on
   MLPerf rows with their own P and O (models.calibration), so prefill and decode share it. ``b`` is the
   largest batch that fits the KV memory left after the weights, the batch cap and the per-user SLO
   (``1 / tau(b) >= min_tokens_per_s_per_user``).
   ``tokens_per_s_per_node = b / tau(b) * floor(gpus_per_node / replica_gpus)`` whole replicas when one fits a
   node, else ``b / tau(b) / min_nodes`` (output tokens, as MLPerf counts).
   A mixture of experts adds, serially, the expert-parallel all-to-all of every prompt and output token,
   ``t_a2a`` (:func:`ep_all_to_all_s_per_token`: routed bytes over NVLink inside the node, scale-out beyond it):
   ``tau(b) = t(b) + b * (t_pf / O + (P / O + 1) * t_a2a)``, and ``P * t_a2a`` to the time to first token.
   Time to first token (P given):
   ``ttft_s = max(2 N_a P / (F * eta_F), (min(W, P * W_a) + P * K / ctx) / (B * eta_B))``.
4. Measured throughput overrides replace step 2/3's estimate; an override of 0 makes the pair ineligible.
5. Failures (models/failures.py; only where the catalog states ``afr_per_node_year``): a training run's
   ``node_hours`` are divided by its effective-time fraction ``1 - f`` (checkpoints at Young's interval and
   interruptions, on the pool that finishes it in its window).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.efficiency import (ACHIEVED_BANDWIDTH_FRACTION, DEFAULT_EXPERTS_PER_TOKEN, EP_BYTES_PER_ROUTED_VALUE,
                               EP_LOAD_IMBALANCE, HIDDEN_PARAMS_PER_LAYER_PER_D2, SCALE_OUT_GBPS_PER_GPU,
                               achieved_flops_fraction, catalog_accelerator_labels, scale_up_bytes_per_s, training_mfu)
from models.failures import effective_time_fraction, failure_columns, failures_apply, run_nodes
from models.quarters import HOURS_PER_QUARTER
from models.units import BYTES_PER_GB, BYTES_PER_TB, FLOPS_PER_TFLOPS, SECONDS_PER_HOUR

# --- What the inputs' `_b` columns count (billions) -----------------------------------------------
PARAMS_PER_B = 1e9
TOKENS_PER_B = 1e9

# --- Shared memory assumption ---------------------------------------------------------------------
# Fraction of HBM a job may fill; the rest is CUDA context, allocator fragmentation and workspace.
# Source: vLLM's default `gpu_memory_utilization=0.9` (vLLM engine arguments documentation).
USABLE_HBM_FRACTION = 0.90

# --- Training -------------------------------------------------------------------------------------
# Training FLOPs per active parameter per token: forward 2 + backward 4 (Kaplan et al. 2020,
# "Scaling Laws for Neural Language Models", C = 6 N D). Attention FLOPs are not counted, so they
# are absorbed by the MFU defaults below, which are calibrated against the same 6 N D. For a mixture of
# experts N is the active parameters (DeepSeek-V3 technical report, arXiv 2412.19437, counts 37B of 671B).
TRAINING_FLOPS_PER_PARAM_PER_TOKEN = 6.0

# Mixed-precision Adam model state: bf16 weights 2 + bf16 grads 2 + fp32 master weights 4 + Adam
# first moment 4 + second moment 4 = 16 B/param (Rajbhandari et al. 2020, ZeRO, Section 3.1:
# "2Ψ + 2Ψ + KΨ" with K = 12), over every (total) parameter: each expert has its own state. Activations
# are assumed recomputed (activation checkpointing) and are not counted. Used for every precision: FP8/FP4
# training keeps the same master/optimizer state.
TRAINING_BYTES_PER_PARAM = 16.0

# Effective MFU default (6 N_a D / (GPU-hours x 3600 x dense peak), restarts and downtime included): a
# function of the accelerator and the model's active size, fitted on training_runs.csv (models/efficiency.py,
# README section "Calibration"). A workload's own `mfu` replaces it.

# A training run may use as many nodes as the plan gives it; this cap only rejects models whose
# optimizer state alone would need an implausible cluster: 32,768 GPUs, twice the largest published run
# (Llama 3.1 405B: 16,384 H100s, training_runs.csv), and at most 4,096 nodes (32,768 GPUs on 8-GPU nodes), so
# 455 NVL72 racks.
MAX_NODES_PER_TRAINING_RUN = 4096
MAX_GPUS_PER_TRAINING_RUN = 32_768

# --- Inference ------------------------------------------------------------------------------------
# Weight bytes per parameter for each serving precision (the formats' definitions). FP4 (NVFP4, MXFP4) is
# 4 bits a value; its block scales (one 8-bit scale per 16 or 32 values, +3-6 %) are not counted.
WEIGHT_BYTES_PER_PARAM = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5, "fp4": 0.5}
# KV-cache bytes per stored value: 16-bit for bf16 serving, 8-bit (FP8/INT8 KV cache, as TensorRT-LLM
# and vLLM offer) for every quantised precision, including int4 weight-only and fp4 (FP4 results on
# Blackwell keep an FP8 KV cache: TensorRT-LLM's NVFP4 recipes quantise weights and activations, KV in FP8).
KV_CACHE_BYTES_PER_VALUE = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 1.0, "fp4": 1.0}
# Which catalog rate each precision runs at, best first; a card lacking one falls back to the next
# (weight-only quantisation: weights stored at the precision, matrix products at the slower rate).
# INT8/INT4 use the FP8 rate: for the catalog's GPUs dense INT8 TOPS equal FP8 TFLOPS.
RATE_COLUMNS_BY_PRECISION = {"bf16": ("bf16_tflops",), "fp8": ("fp8_tflops", "bf16_tflops"),
                             "int8": ("fp8_tflops", "bf16_tflops"), "int4": ("fp8_tflops", "bf16_tflops"),
                             "fp4": ("fp4_tflops", "fp8_tflops", "bf16_tflops")}
# FLOPs per token in decode and prefill: one multiply-add per active parameter.
DECODE_FLOPS_PER_PARAM_PER_TOKEN = 2.0
PREFILL_FLOPS_PER_PARAM_PER_TOKEN = 2.0

# KV heuristic from Llama-style GQA shapes: values/token = 2 (K and V) * layers * kv_heads * head_dim.
# Llama 3 8B / 70B / 3.1 405B all use 8 KV heads of dimension 128 (Llama Team 2024,
# "The Llama 3 Herd of Models", Table 3; Llama 2 70B has the same 80 x 8 x 128 shape). Their layer
# counts 32 / 80 / 126 are fitted by least squares in log-log: layers = 16.1 * params_b ** 0.352
# (8B -> 33.5, 70B -> 71.9, 405B -> 132.8, i.e. within 11%). Models with full multi-head attention
# (e.g. Llama 2 7B, 32 KV heads) have a ~4x larger cache than this predicts. A mixture of experts takes
# the fit at its *active* parameters (the attention stack is part of every token's path): Mixtral 8x7B
# 12.9B active -> 39 layers (true 32), Llama 4 Maverick 17B -> 43 (48); at 46.7B total it would be 62.
# The workload's `layers`, `kv_heads`, `head_dim` or `kv_values_per_token` replace the heuristic.
KV_HEADS_LLAMA_GQA = 8
KV_HEAD_DIM_LLAMA = 128
KV_LAYERS_COEF = 16.1
KV_LAYERS_EXPONENT = 0.352
KV_TENSORS_PER_LAYER = 2.0  # K and V

# Achieved fractions of peak FLOP/s (eta_F) and HBM bandwidth (eta_B): models/efficiency.py, eta_F fitted on
# the MLPerf rows of inference_benchmarks.csv through estimate_performance itself (README section
# "Calibration"), with prefill counted at each row's own prompt/output lengths.
# The simple form (context_tokens, no prompt_tokens/output_tokens) has no prompt length: it charges each
# generated token the prefill of one prompt token, P / O = 1, about MLPerf Llama-2-70B's mix (about 300 prompt
# and 294.45 output tokens per sample, inference_benchmarks.csv notes). Give prompt_tokens and output_tokens
# to size a long-prompt service.
SIMPLE_FORM_PROMPT_TOKENS_PER_OUTPUT_TOKEN = 1.0
# Largest decode batch per GPU of a replica: vLLM's default `max_num_seqs=256` per engine, counted per
# GPU because a node may run one engine per GPU when the model fits.
MAX_BATCH_PER_GPU = 256
# A serving replica is tensor-parallel over groups of at most 8 GPUs: the NVLink domain of an HGX board, where
# every 8-GPU calibration row of inference_benchmarks.csv was measured (assumption: it keeps a GB200 GPU comparable
# to a B200 GPU, with its own peaks and memory). A rack-scale node (72 GPUs in one NVLink domain, GB200/GB300
# NVL72) therefore holds several replicas of whole groups - 9 of 8 GPUs for a model that fits 8 - and a model
# that needs more groups spans more of the domain. For nodes of <= 8 GPUs the group is the node.
# Wide expert parallelism across a whole NVL72 (how DeepSeek-R1 is served there) is not modelled: it
# reads each expert once for 72 GPUs instead of 9 times; a measured `throughput` row captures it.
TENSOR_PARALLEL_GROUP_GPUS = 8
# Serving replicas larger than 8 nodes or 64 GPUs (8 nodes of 8) are not considered: Meta serves Llama 3.1 405B
# BF16 on 2 nodes with pipeline parallelism (Llama 3 Herd, Section 6); beyond 8 nodes pipeline bubbles and
# cross-node latency make interactive serving impractical. The GPU cap gives at least 1 node, so a rack-scale node
# (72 GPUs, one NVLink domain) may hold a replica of up to 72 GPUs but never span two; nodes of <= 8 GPUs keep 8.
MAX_NODES_PER_INFERENCE_REPLICA = 8
MAX_GPUS_PER_INFERENCE_REPLICA = 64
# Mean KV-cache length used when an inference workload leaves context_tokens empty.
DEFAULT_CONTEXT_TOKENS = 2048.0

OUTPUT_COLUMNS = [
    "eligible", "reason", "min_nodes", "tokens_per_s_per_node", "node_hours", "gpu_hours",
    "kwh_per_node_hour", "mfu", "ttft_s", "batch", "replicas_per_node",
]


def kv_values_per_token(params_b, layers=np.nan, kv_heads=np.nan, head_dim=np.nan,
                        kv_values=np.nan) -> np.ndarray:
    """KV-cache values one token adds: `kv_values` where given, else 2 * layers * kv_heads * head_dim with
    each factor given or from the Llama GQA heuristic (layers = KV_LAYERS_COEF * params_b ** KV_LAYERS_EXPONENT,
    params_b being the active parameters of a mixture of experts)."""
    params_b = np.asarray(params_b, dtype=float)
    shape = np.broadcast(params_b, layers, kv_heads, head_dim, kv_values).shape

    def given_or(value, default) -> np.ndarray:
        value = np.broadcast_to(np.asarray(value, dtype=float), shape)
        return np.where(np.isnan(value), default, value)

    heuristic_layers = KV_LAYERS_COEF * np.power(params_b, KV_LAYERS_EXPONENT)
    shaped = (KV_TENSORS_PER_LAYER * given_or(layers, heuristic_layers) * given_or(kv_heads, KV_HEADS_LLAMA_GQA)
              * given_or(head_dim, KV_HEAD_DIM_LLAMA))
    return given_or(kv_values, shaped)


def kv_bytes_per_token(params_b: np.ndarray | float, kv_bytes_per_value: np.ndarray | float) -> np.ndarray:
    """KV-cache bytes one token adds, from the Llama GQA shape heuristic (see KV_LAYERS_COEF)."""
    return kv_values_per_token(params_b) * np.asarray(kv_bytes_per_value, dtype=float)


def peak_tflops(catalog: pd.DataFrame, precision: np.ndarray) -> np.ndarray:
    """Per-GPU dense TFLOPS each row of `catalog` (aligned with `precision`) runs its precision at: the first
    rate of RATE_COLUMNS_BY_PRECISION the card has (weight-only quantisation below its own rate)."""
    tflops = np.full(len(catalog), np.nan)
    for name, columns in RATE_COLUMNS_BY_PRECISION.items():
        rate = np.full(len(catalog), np.nan)
        for column in reversed(columns):  # the best rate the card has wins
            if column in catalog:
                value = catalog[column].to_numpy(dtype=float)
                rate = np.where(np.isnan(value), rate, value)
        tflops = np.where(precision == name, rate, tflops)
    return tflops


def rate_precision(catalog: pd.DataFrame, precision: np.ndarray) -> np.ndarray:
    """The precision whose rate each row of `catalog` (aligned with `precision`) runs its work at: the first of
    RATE_COLUMNS_BY_PRECISION the card has ("fp4", "fp8" or "bf16"; a card without FP4 runs fp4 weights at "fp8")."""
    rate = np.asarray(precision, dtype=object).copy()
    for name, columns in RATE_COLUMNS_BY_PRECISION.items():
        chosen = np.full(len(catalog), None, dtype=object)
        for column in reversed(columns):
            if column in catalog:
                has = ~np.isnan(catalog[column].to_numpy(dtype=float))
                chosen = np.where(has, column.removesuffix("_tflops"), chosen)
        rate = np.where(precision == name, chosen, rate)
    return rate


def ep_all_to_all_s_per_token(moe: np.ndarray, layers: np.ndarray, experts_per_token: np.ndarray,
                              hidden_size: np.ndarray, replica_gpus: np.ndarray, gpus_per_node: np.ndarray,
                              scale_up_bytes_per_s_per_gpu: np.ndarray) -> np.ndarray:
    """Replica seconds of expert-parallel all-to-all per token (prefill or decode) of a mixture of experts.

    A token sends its hidden vector to its k experts and gets it back in every MoE layer (all `layers`):
    V = layers * k * d * EP_BYTES_PER_ROUTED_VALUE bytes. The replica's G GPUs share the tokens, each GPU moving V / G
    a token, times EP_LOAD_IMBALANCE for the busiest GPU; of the experts, (g - 1) / G sit on other GPUs of the NVLink
    domain (g = min(G, gpus_per_node)) and (G - g) / G beyond it (scale-out):
    ``t = V / G * imbalance * ((g - 1) / G / B_up + (G - g) / G / B_out)``. Dense models and one-GPU replicas: 0.
    """
    g = np.minimum(replica_gpus, gpus_per_node)
    volume_bytes = layers * experts_per_token * hidden_size * EP_BYTES_PER_ROUTED_VALUE
    per_gpu_bytes = volume_bytes / replica_gpus * EP_LOAD_IMBALANCE
    seconds = per_gpu_bytes * ((g - 1.0) / replica_gpus / scale_up_bytes_per_s_per_gpu
                               + (replica_gpus - g) / replica_gpus / (SCALE_OUT_GBPS_PER_GPU * BYTES_PER_GB))
    return np.where(moe & (replica_gpus > 1), seconds, 0.0)


def _fmt(values: np.ndarray, pattern: str) -> np.ndarray:
    """Format a float array element-wise (printf style) for reason strings."""
    return np.char.mod(pattern, np.asarray(values, dtype=float))


def _optional(frame: pd.DataFrame, column: str) -> np.ndarray:
    """An optional numeric column as floats, NaN where empty or where the frame lacks the column."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def _empty_result() -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays([[], []], names=["workload", "sku"])
    return pd.DataFrame({
        "eligible": pd.Series(dtype=bool), "reason": pd.Series(dtype=object),
        "min_nodes": pd.Series(dtype="int64"), **{c: pd.Series(dtype=float) for c in OUTPUT_COLUMNS[3:]},
    }).set_axis(index)


def estimate_performance(catalog: pd.DataFrame, workloads: pd.DataFrame, throughput: pd.DataFrame, *,
                         flops_fractions: dict[tuple[str, str], float] | None = None) -> pd.DataFrame:
    """Nodes, throughput and energy for every workload x SKU pair, so the optimiser only sees feasible pairs.

    Returns a frame indexed by (workload, sku) with the columns in OUTPUT_COLUMNS; see the module
    docstring for the model and the README (section "Performance model") for the constants' sources.
    `flops_fractions` replaces the fitted eta_F table of models.efficiency (models.calibration fits it this way).
    """
    if len(catalog) == 0 or len(workloads) == 0:
        return _empty_result()

    index = pd.MultiIndex.from_product([workloads.index, catalog.index], names=["workload", "sku"])
    w = workloads.reindex(index.get_level_values("workload"))
    c = catalog.reindex(index.get_level_values("sku"))

    is_training = (w["kind"] == "training").to_numpy()
    precision = w["precision"].astype(str).to_numpy()
    params_b = w["params_b"].to_numpy(dtype=float)
    active_b = _optional(w, "active_params_b")
    active_b = np.where(np.isnan(active_b), params_b, active_b)  # empty = dense
    params = params_b * PARAMS_PER_B  # every parameter: memory
    active = active_b * PARAMS_PER_B  # parameters each token uses: compute
    gpus_per_node = c["gpus_per_node"].to_numpy(dtype=float)
    hbm_bytes_per_gpu = c["hbm_gb"].to_numpy(dtype=float) * BYTES_PER_GB
    usable_bytes_per_node = USABLE_HBM_FRACTION * gpus_per_node * hbm_bytes_per_gpu
    bw_bytes_per_s_per_gpu = c["hbm_tbps"].to_numpy(dtype=float) * BYTES_PER_TB

    # (1) Peak FLOP/s at the workload precision; weight-only quantisation where the card lacks its rate.
    flops_per_gpu = peak_tflops(c, precision) * FLOPS_PER_TFLOPS
    peak_flops_per_node = gpus_per_node * flops_per_gpu

    # (2) Training: compute on the active parameters, model state on all of them.
    accelerator_label = catalog_accelerator_labels(catalog).reindex(index.get_level_values("sku")).to_numpy()
    mfu_default = training_mfu(accelerator_label, active_b)
    mfu_given = _optional(w, "mfu")
    mfu = np.where(np.isnan(mfu_given), mfu_default, mfu_given)
    train_bytes = TRAINING_BYTES_PER_PARAM * params
    train_min_nodes = np.ceil(train_bytes / usable_bytes_per_node)
    train_tokens_per_s_per_node = peak_flops_per_node * mfu / (TRAINING_FLOPS_PER_PARAM_PER_TOKEN * active)

    # (3) Inference roofline.
    weight_bytes_per_param = pd.Series(precision).map(WEIGHT_BYTES_PER_PARAM).to_numpy(dtype=float)
    weight_bytes = weight_bytes_per_param * params
    active_weight_bytes = weight_bytes_per_param * active
    kv_value_bytes = pd.Series(precision).map(KV_CACHE_BYTES_PER_VALUE).to_numpy(dtype=float)
    kv_bytes_token = kv_value_bytes * kv_values_per_token(
        active_b, _optional(w, "layers"), _optional(w, "kv_heads"), _optional(w, "head_dim"),
        _optional(w, "kv_values_per_token"))
    prompt = _optional(w, "prompt_tokens")
    output = _optional(w, "output_tokens")
    phases = ~np.isnan(prompt) & ~np.isnan(output)  # the request's own prompt and output lengths
    context = _optional(w, "context_tokens")
    context = np.where(phases, prompt + output, np.where(np.isnan(context), DEFAULT_CONTEXT_TOKENS, context))
    kv_bytes_per_seq = kv_bytes_token * context
    infer_bytes = weight_bytes + kv_bytes_per_seq

    group_gpus = np.minimum(gpus_per_node, TENSOR_PARALLEL_GROUP_GPUS)
    group_usable_bytes = USABLE_HBM_FRACTION * group_gpus * hbm_bytes_per_gpu
    replica_gpus = group_gpus * np.maximum(np.ceil(infer_bytes / group_usable_bytes), 1.0)
    infer_min_nodes = np.ceil(replica_gpus / gpus_per_node)
    # Whole replicas only: a 72-GPU node holds 4 replicas of 16 GPUs (the other 8 GPUs idle), one of 40; a
    # replica spanning nodes counts 1 / min_nodes per node.
    replicas_per_node = np.where(replica_gpus <= gpus_per_node, np.floor(gpus_per_node / replica_gpus),
                                 1.0 / infer_min_nodes)

    # Efficiency multipliers (models.efficiency): one FLOP/s fraction for prefill and decode, as fitted.
    rate = rate_precision(c, precision)
    eta_flops = (achieved_flops_fraction(accelerator_label, rate) if flops_fractions is None
                 else achieved_flops_fraction(accelerator_label, rate, fractions=flops_fractions))
    eta_bandwidth = ACHIEVED_BANDWIDTH_FRACTION

    replica_flops = replica_gpus * flops_per_gpu
    replica_bw = replica_gpus * bw_bytes_per_s_per_gpu
    flops_eff = replica_flops * eta_flops
    bw_eff = replica_bw * eta_bandwidth
    flops_per_token = DECODE_FLOPS_PER_PARAM_PER_TOKEN * active
    prefill_flops = PREFILL_FLOPS_PER_PARAM_PER_TOKEN * active * np.nan_to_num(prompt)
    prefill_compute_s = prefill_flops / flops_eff
    # Prefill seconds per output token of one request; the simple form charges SIMPLE_FORM_... prompt tokens.
    prompt_per_output = np.where(phases, prompt / np.where(phases, output, 1.0),
                                 SIMPLE_FORM_PROMPT_TOKENS_PER_OUTPUT_TOKEN)
    # Expert-parallel all-to-all of a mixture of experts, per token of prefill or decode (0 for dense models).
    layers = _optional(w, "layers")
    layers = np.where(np.isnan(layers), KV_LAYERS_COEF * np.power(active_b, KV_LAYERS_EXPONENT), layers)
    experts_per_token = _optional(w, "experts_per_token")
    experts_per_token = np.where(np.isnan(experts_per_token), DEFAULT_EXPERTS_PER_TOKEN, experts_per_token)
    hidden_size = _optional(w, "hidden_size")
    hidden_size = np.where(np.isnan(hidden_size), np.sqrt(active / (HIDDEN_PARAMS_PER_LAYER_PER_D2 * layers)),
                           hidden_size)
    a2a_s_per_token = ep_all_to_all_s_per_token(active < params, layers, experts_per_token, hidden_size,
                                                replica_gpus, gpus_per_node, scale_up_bytes_per_s(accelerator_label))
    # Serial seconds each output token adds to a step: its share of prefill compute and every token's all-to-all.
    prefill_s_per_output = (prompt_per_output * (PREFILL_FLOPS_PER_PARAM_PER_TOKEN * active / flops_eff
                                                 + a2a_s_per_token) + a2a_s_per_token)
    slo = _optional(w, "min_tokens_per_s_per_user")
    with np.errstate(divide="ignore", invalid="ignore"):
        ttft_s = np.where(phases, np.maximum(
            prefill_compute_s,
            (np.minimum(weight_bytes, prompt * active_weight_bytes) + prompt * kv_bytes_token) / bw_eff)
            + prompt * a2a_s_per_token, np.nan)
        batch_kv = np.floor((replica_gpus * USABLE_HBM_FRACTION * hbm_bytes_per_gpu - weight_bytes)
                            / kv_bytes_per_seq)
        batch_cap = MAX_BATCH_PER_GPU * replica_gpus
        # tau(b) <= 1/SLO, term by term: compute, and the memory term at its full-weights or per-token branch.
        budget_s = np.where(np.isnan(slo), np.inf, 1.0 / slo)
        per_token_compute_s = flops_per_token / flops_eff + prefill_s_per_output
        per_token_kv_s = kv_bytes_per_seq / bw_eff + prefill_s_per_output
        batch_slo = np.floor(np.minimum(
            budget_s / per_token_compute_s,
            np.maximum((budget_s - weight_bytes / bw_eff) / per_token_kv_s,
                       budget_s / (active_weight_bytes / bw_eff + per_token_kv_s))))
        batch = np.minimum(np.minimum(batch_kv, batch_cap), batch_slo)

        def tau_s(b: np.ndarray) -> np.ndarray:
            """Replica seconds per decode step of b sequences, their share of prefill included."""
            step = np.maximum(b * flops_per_token / flops_eff,
                              (np.minimum(weight_bytes, b * active_weight_bytes) + b * kv_bytes_per_seq) / bw_eff)
            return step + b * prefill_s_per_output

        best_user_tokens_per_s = 1.0 / tau_s(np.ones_like(batch))
        slo_unreachable = ~is_training & ~np.isnan(slo) & (batch < 1.0)
        max_ttft = _optional(w, "max_ttft_s")
        ttft_unreachable = ~is_training & ~np.isnan(max_ttft) & (ttft_s > max_ttft)
        batch = np.maximum(batch, 1.0)
        infer_tokens_per_s_per_node = batch / tau_s(batch) * replicas_per_node

    # (4) Assemble, then apply measured overrides.
    min_nodes = np.where(is_training, train_min_nodes, infer_min_nodes)
    tokens_per_s_per_node = np.where(is_training, train_tokens_per_s_per_node, infer_tokens_per_s_per_node)
    # Each cap: its node count, or as many whole nodes as its GPU count gives (at least 1), whichever is fewer.
    node_limit = np.minimum(
        np.where(is_training, MAX_NODES_PER_TRAINING_RUN, MAX_NODES_PER_INFERENCE_REPLICA),
        np.maximum(np.floor(np.where(is_training, MAX_GPUS_PER_TRAINING_RUN, MAX_GPUS_PER_INFERENCE_REPLICA)
                            / gpus_per_node), 1.0))
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
    reason_ttft = ("TTFT SLO " + pd.Series(_fmt(max_ttft, "%g")) + " s unreachable: prefill of "
                   + pd.Series(_fmt(prompt, "%.0f")) + " prompt tokens takes "
                   + pd.Series(_fmt(ttft_s, "%.3g")) + " s on a " + pd.Series(_fmt(replica_gpus, "%.0f"))
                   + "-GPU replica").to_numpy(dtype=object)

    # A positive measurement proves the pair runs, so it wins over the modelled fit and SLO checks.
    reason = np.select(
        [override_zero, has_override, too_big, slo_unreachable, ttft_unreachable],
        ["throughput override is 0", "", reason_fit, reason_slo, reason_ttft],
        default="",
    ).astype(object)
    eligible = reason == ""

    tokens_total = w["tokens_b"].to_numpy(dtype=float) * TOKENS_PER_B
    with np.errstate(divide="ignore", invalid="ignore"):
        node_hours = np.where(is_training & (tokens_per_s_per_node > 0),
                              tokens_total / tokens_per_s_per_node / SECONDS_PER_HOUR, np.nan)
        # The MFU used; for a measured override, the MFU it implies.
        mfu_used = np.where(has_override, tokens_per_s_per_node * TRAINING_FLOPS_PER_PARAM_PER_TOKEN * active
                            / peak_flops_per_node, mfu)
    mfu_out = np.where(is_training, mfu_used, np.nan)
    node_hours, reason = _checkpoint_derate(catalog, w, c, node_hours, min_nodes, is_training, reason)
    eligible = reason == ""

    return pd.DataFrame({
        "eligible": eligible.astype(bool),
        "reason": reason,
        "min_nodes": min_nodes.astype("int64"),
        "tokens_per_s_per_node": tokens_per_s_per_node.astype(float),
        "node_hours": node_hours,
        "gpu_hours": node_hours * gpus_per_node,
        "kwh_per_node_hour": c["node_kw"].to_numpy(dtype=float) * 1.0,
        "mfu": mfu_out,
        "ttft_s": np.where(is_training, np.nan, ttft_s),
        # The serving shape models/queueing.py sizes a TTFT quantile with: sequences a replica decodes at once,
        # replicas a node holds (a fraction for a replica spanning nodes).
        "batch": np.where(is_training, np.nan, batch),
        "replicas_per_node": np.where(is_training, np.nan, replicas_per_node),
    }, index=index)


def _checkpoint_derate(catalog: pd.DataFrame, w: pd.DataFrame, c: pd.DataFrame, node_hours: np.ndarray,
                       min_nodes: np.ndarray, is_training: np.ndarray, reason: np.ndarray):
    """(5) Failures (models/failures.py): a training run needs node_hours / (1 − f) node-hours, f the share lost
    to checkpoints and interruptions at Young's interval on the pool that finishes it in its window. A SKU whose
    loss reaches the whole run cannot run it. Without failure columns: the node-hours unchanged."""
    if not failures_apply(catalog):
        return node_hours, reason
    afr, _ = failure_columns(c)
    start = np.nan_to_num(_optional(w, "start"), nan=0.0)
    deadline = _optional(w, "deadline")
    window_hours = np.where(np.isnan(deadline), np.inf, (deadline - start + 1.0) * HOURS_PER_QUARTER)
    pool = run_nodes(node_hours, min_nodes, window_hours)
    effective = effective_time_fraction(pool, afr.to_numpy(dtype=float))
    lost = is_training & (effective <= 0.0) & (reason == "")
    reason = np.where(lost, "interruptions on a " + pd.Series(_fmt(pool, "%.0f")).to_numpy(dtype=object)
                      + "-node pool lose the whole run (afr_per_node_year)", reason).astype(object)
    with np.errstate(divide="ignore", invalid="ignore"):
        derated = np.where(is_training & (effective > 0.0), node_hours / np.where(effective > 0, effective, 1.0),
                           node_hours)
    return derated, reason


def _override_series(throughput: pd.DataFrame, index: pd.MultiIndex) -> pd.Series:
    """Measured tokens/s per node aligned to `index` (NaN where none); the last row wins on duplicates."""
    if throughput is None or len(throughput) == 0:
        return pd.Series(np.nan, index=index)
    measured = (throughput.drop_duplicates(["workload", "sku"], keep="last")
                .set_index(["workload", "sku"])["tokens_per_s_per_node"].astype(float))
    return measured.reindex(index)
