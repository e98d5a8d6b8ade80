"""Tests for models/performance.py: tiny hand-worked cases.

Hand-worked cases patch the KV heuristic and the achieved-efficiency fractions to round numbers so each
docstring's arithmetic is exact; the calibrated defaults are tested against published runs in
tests/test_calibration.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import models.performance as perf
from models.performance import estimate_performance

NO_OVERRIDES = pd.DataFrame({"workload": pd.Series(dtype=str), "sku": pd.Series(dtype=str),
                             "tokens_per_s_per_node": pd.Series(dtype=float)})


def make_catalog(**skus: dict) -> pd.DataFrame:
    """Catalog rows with only the columns the performance model reads (plus node_kw)."""
    base = {"gpus_per_node": 1, "bf16_tflops": 1000.0, "fp8_tflops": np.nan, "hbm_gb": 100.0,
            "hbm_tbps": 1.0, "node_kw": 1.0, "accelerator": "Test GPU"}
    frame = pd.DataFrame([{**base, **row} for row in skus.values()], index=pd.Index(list(skus), name="sku"))
    return frame


def make_workloads(**rows: dict) -> pd.DataFrame:
    base = {"kind": "inference", "params_b": 8.0, "precision": "bf16", "tokens_b": np.nan,
            "context_tokens": 1000.0, "min_tokens_per_s_per_user": np.nan, "mfu": np.nan}
    return pd.DataFrame([{**base, **row} for row in rows.values()], index=pd.Index(list(rows), name="workload"))


def train(**kw) -> dict:
    return {"kind": "training", "context_tokens": np.nan, **kw}


@pytest.fixture
def round_constants(monkeypatch):
    """KV = 131,072 B/token at bf16 (2 x 32 layers x 8 heads x 128 x 2 B, Llama 3 8B's exact shape);
    achieved FLOPS and bandwidth fractions 0.5 with no prefill charged to decode; usable HBM 0.9;
    batch cap 256 per GPU."""
    monkeypatch.setattr(perf, "KV_LAYERS_COEF", 32.0)
    monkeypatch.setattr(perf, "KV_LAYERS_EXPONENT", 0.0)
    monkeypatch.setattr(perf, "achieved_flops_fraction", lambda labels, precision: np.full(len(labels), 0.5))
    monkeypatch.setattr(perf, "SIMPLE_FORM_PROMPT_TOKENS_PER_OUTPUT_TOKEN", 0.0)
    monkeypatch.setattr(perf, "ACHIEVED_BANDWIDTH_FRACTION", 0.5)
    monkeypatch.setattr(perf, "USABLE_HBM_FRACTION", 0.9)
    monkeypatch.setattr(perf, "MAX_BATCH_PER_GPU", 256)


# ---------------------------------------------------------------------------------------------- shape

def test_output_has_every_pair_and_the_documented_columns():
    """2 workloads x 3 SKUs -> 6 rows indexed (workload, sku), columns and dtypes as documented."""
    catalog = make_catalog(a={}, b={"fp8_tflops": 2000.0}, c={"gpus_per_node": 8})
    workloads = make_workloads(serve={}, pretrain=train(tokens_b=1.0))
    result = estimate_performance(catalog, workloads, NO_OVERRIDES)
    assert list(result.index.names) == ["workload", "sku"]
    assert len(result) == 6
    assert set(result.index) == {(w, s) for w in ["serve", "pretrain"] for s in "abc"}
    assert list(result.columns) == perf.OUTPUT_COLUMNS
    assert result["eligible"].dtype == bool
    assert result["min_nodes"].dtype == np.int64
    assert result.loc["serve", "node_hours"].isna().all() and result.loc["serve", "mfu"].isna().all()


def test_empty_inputs_give_an_empty_frame_with_the_columns():
    result = estimate_performance(make_catalog(a={}), make_workloads().iloc[:0], NO_OVERRIDES)
    assert len(result) == 0 and list(result.columns) == perf.OUTPUT_COLUMNS


# ------------------------------------------------------------------------------------------- training

def test_training_node_hours_tiny():
    """1B params, 1B tokens, 8 GPUs x 1000 TFLOPS, mfu 0.5:
    work 6 * 1e9 * 1e9 = 6e18 FLOP; node rate 8e15 * 0.5 = 4e15 FLOP/s -> 1500 s = 0.41667 node-hours;
    tokens/s per node = 4e15 / 6e9 = 666,667; gpu_hours = 8 * 0.41667 = 3.3333; kWh per node-hour = node_kw."""
    catalog = make_catalog(x8={"gpus_per_node": 8, "node_kw": 10.2})
    workloads = make_workloads(run=train(params_b=1.0, tokens_b=1.0, mfu=0.5))
    row = estimate_performance(catalog, workloads, NO_OVERRIDES).loc[("run", "x8")]
    assert row["eligible"] and row["reason"] == ""
    assert row["node_hours"] == pytest.approx(6e18 / (8e15 * 0.5) / 3600)
    assert row["tokens_per_s_per_node"] == pytest.approx(4e15 / 6e9)
    assert row["gpu_hours"] == pytest.approx(8 * 6e18 / (8e15 * 0.5) / 3600)
    assert row["kwh_per_node_hour"] == pytest.approx(10.2)
    assert row["mfu"] == 0.5


def test_training_default_mfu_is_per_accelerator_and_size():
    """No workload mfu -> models.efficiency.training_mfu: at 70B the accelerator's level (A100 0.47680266,
    H100 0.26210724, unmatched accelerators H100's); an 8B run on H100 0.26210724 x (8/70)^0.11477889 = 0.204341."""
    catalog = make_catalog(a100={"accelerator": "NVIDIA A100 SXM 80GB"}, h100={"accelerator": "NVIDIA H100 SXM 80GB"},
                           other={"accelerator": "AMD Instinct MI300X"})
    workloads = make_workloads(big=train(params_b=70.0, tokens_b=1.0), small=train(params_b=8.0, tokens_b=1.0))
    result = estimate_performance(catalog, workloads, NO_OVERRIDES)
    assert result.loc["big", "mfu"].to_dict() == pytest.approx({"a100": 0.47680266, "h100": 0.26210724,
                                                                "other": 0.26210724})
    assert result.loc[("small", "h100"), "mfu"] == pytest.approx(0.204341, abs=1e-6)


def test_training_min_nodes_from_optimizer_state():
    """70B x 16 B/param = 1120 GB; a node of 8 x 80 GB holds 0.9 x 640 = 576 GB -> ceil(1.94) = 2 nodes."""
    catalog = make_catalog(h100={"gpus_per_node": 8, "hbm_gb": 80.0})
    result = estimate_performance(catalog, make_workloads(run=train(params_b=70.0, tokens_b=1.0)), NO_OVERRIDES)
    assert result.loc[("run", "h100"), "min_nodes"] == 2
    assert result.loc[("run", "h100"), "eligible"]


def test_training_that_needs_too_many_nodes_is_ineligible():
    """405B x 16 B = 6480 GB on 1 GPU x 1 GB nodes (0.9 GB usable) -> 7200 nodes > 4096-node cap."""
    catalog = make_catalog(tiny={"hbm_gb": 1.0})
    row = estimate_performance(catalog, make_workloads(run=train(params_b=405.0, tokens_b=1.0)),
                               NO_OVERRIDES).loc[("run", "tiny")]
    assert row["min_nodes"] == 7200
    assert not row["eligible"]
    assert row["reason"] == ("needs 6480 GB of HBM for weights+grads+Adam; "
                             "7200 nodes exceed the 4096-node training run limit")


def test_fp8_training_uses_fp8_peak_only_where_the_card_has_it():
    """1B params, mfu 0.5: fp8 card (2000 TFLOPS fp8) -> 2000e12*0.5/6e9 = 166,667 tok/s;
    card without fp8 falls back to bf16 1000 TFLOPS -> 83,333 tok/s."""
    catalog = make_catalog(fp8={"fp8_tflops": 2000.0}, nofp8={})
    result = estimate_performance(catalog, make_workloads(run=train(params_b=1.0, tokens_b=1.0, precision="fp8",
                                                                      mfu=0.5)), NO_OVERRIDES)
    assert result.loc[("run", "fp8"), "tokens_per_s_per_node"] == pytest.approx(2000e12 * 0.5 / 6e9)
    assert result.loc[("run", "nofp8"), "tokens_per_s_per_node"] == pytest.approx(1000e12 * 0.5 / 6e9)


# ------------------------------------------------------------------------------------------ inference

def test_inference_min_nodes_and_replica_limit():
    """405B bf16: weights 810 GB + KV of one 4096-token sequence (default heuristic:
    layers 16.1 * 405^0.352 = 132.8; 2 * 132.8 * 8 * 128 * 2 B = 0.544 MB/token -> 2.23 GB) = 812 GB.
    8 x 80 GB node (576 GB usable) -> 2 nodes; 1 x 80 GB node (72 GB usable) -> 12 nodes > 8-node limit."""
    catalog = make_catalog(x8={"gpus_per_node": 8, "hbm_gb": 80.0}, x1={"hbm_gb": 80.0})
    result = estimate_performance(catalog, make_workloads(big={"params_b": 405.0, "context_tokens": 4096.0}),
                                  NO_OVERRIDES)
    assert result.loc[("big", "x8"), "min_nodes"] == 2 and result.loc[("big", "x8"), "eligible"]
    assert result.loc[("big", "x1"), "min_nodes"] == 12
    assert not result.loc[("big", "x1"), "eligible"]
    assert result.loc[("big", "x1"), "reason"] == ("needs 812 GB of HBM for weights + KV cache of one 4096-token "
                                                   "sequence; 12 nodes exceed the 8-node replica limit")


def test_memory_bound_decode_with_kv_bound_batch(round_constants):
    """8B bf16 on 1 GPU (1000 TFLOPS, 100 GB, 1 TB/s), context 4000:
    W = 16 GB; K = 4000 x 131,072 B = 524.288 MB; KV room 90 - 16 = 74 GB -> batch floor(141.1) = 141 (< 256 cap).
    compute 141 x 1.6e10 / 5e14 = 4.5 ms; memory (16e9 + 141 x 524.288e6) / 5e11 = 0.179849 s -> memory-bound.
    tokens/s = 141 / 0.179849 = 784.0."""
    result = estimate_performance(make_catalog(g={}), make_workloads(s={"context_tokens": 4000.0}), NO_OVERRIDES)
    expected = 141 / ((16e9 + 141 * 524.288e6) / 5e11)
    assert result.loc[("s", "g"), "tokens_per_s_per_node"] == pytest.approx(expected)
    assert expected == pytest.approx(784.0, abs=0.1)


def test_memory_bound_decode_at_batch_cap(round_constants):
    """Context 1000: K = 131.072 MB; KV room fits floor(564.6) = 564 but the cap is 256 per GPU.
    memory (16e9 + 256 x 131.072e6) / 5e11 = 0.099109 s (compute 8.2 ms) -> 256 / 0.099109 = 2583.0 tok/s."""
    result = estimate_performance(make_catalog(g={}), make_workloads(s={}), NO_OVERRIDES)
    assert result.loc[("s", "g"), "tokens_per_s_per_node"] == pytest.approx(256 / ((16e9 + 256 * 131.072e6) / 5e11))


def test_compute_bound_decode(round_constants):
    """Same model on a 10 TB/s card, context 100: K = 13.1072 MB, batch = cap 256.
    compute 256 x 1.6e10 / 5e14 = 8.192 ms > memory (16e9 + 3.355e9) / 5e12 = 3.87 ms
    -> 256 / 8.192e-3 = 31,250 tok/s = achieved FLOP/s / FLOPs per token."""
    result = estimate_performance(make_catalog(g={"hbm_tbps": 10.0}), make_workloads(s={"context_tokens": 100.0}),
                                  NO_OVERRIDES)
    assert result.loc[("s", "g"), "tokens_per_s_per_node"] == pytest.approx(31_250.0)


def test_multi_node_replica_reports_per_node_throughput(round_constants):
    """1 GPU x 10 GB nodes (9 GB usable): 16 GB of weights + 13.1 MB KV -> replica of 2 nodes.
    Batch = floor((18e9 - 16e9) / 13.1072e6) = 152; compute 152 x 1.6e10 / 1e15 = 2.43 ms >
    memory 17.99e9 / 1e13 = 1.80 ms -> replica 62,500 tok/s -> 31,250 per node."""
    result = estimate_performance(make_catalog(g={"hbm_gb": 10.0, "hbm_tbps": 10.0}),
                                  make_workloads(s={"context_tokens": 100.0}), NO_OVERRIDES)
    assert result.loc[("s", "g"), "min_nodes"] == 2
    assert result.loc[("s", "g"), "tokens_per_s_per_node"] == pytest.approx(31_250.0)


def test_slo_bounds_the_batch(round_constants):
    """Context 1000 on the 1 TB/s card, SLO 20 tokens/s/user -> step <= 0.05 s:
    (16e9 + b x 131.072e6) / 5e11 <= 0.05 -> b <= 68.66 -> 68 (compute allows 1562).
    step = (16e9 + 68 x 131.072e6) / 5e11 = 0.049826 s -> 68 / 0.049826 = 1364.8 tok/s; 20.07 tok/s per user."""
    result = estimate_performance(make_catalog(g={}), make_workloads(s={"min_tokens_per_s_per_user": 20.0}),
                                  NO_OVERRIDES)
    step_s = (16e9 + 68 * 131.072e6) / 5e11
    assert result.loc[("s", "g"), "eligible"]
    assert result.loc[("s", "g"), "tokens_per_s_per_node"] == pytest.approx(68 / step_s)
    assert 1 / step_s >= 20.0


def test_unreachable_slo_is_ineligible(round_constants):
    """SLO 40 tokens/s needs a 25 ms step, but reading 16 GB at 0.5 TB/s alone takes 32 ms.
    Best at batch 1: 1 / ((16e9 + 131.072e6) / 5e11) = 31.0 tokens/s."""
    row = estimate_performance(make_catalog(g={}), make_workloads(s={"min_tokens_per_s_per_user": 40.0}),
                               NO_OVERRIDES).loc[("s", "g")]
    assert not row["eligible"]
    assert row["reason"] == "per-user SLO 40 tokens/s unreachable: best 31.0 tokens/s at batch 1"


def test_weight_only_quantisation_on_card_without_fp8(round_constants):
    """A card with no FP8 (fp8_tflops NaN) runs fp8 with 1 B/param weights but bf16 compute.
    10 TB/s card, 8B fp8, context 100: W = 8 GB, K = 6.55 MB, batch 256; compute-bound at
    5e14 / 1.6e10 = 31,250 tok/s (the same card with 2000 TFLOPS FP8 gives 62,500).
    Memory: 70B int4 (35 GB) fits one 80 GB GPU (72 GB usable); 70B bf16 (140 GB) needs 2."""
    catalog = make_catalog(nofp8={"hbm_tbps": 10.0, "hbm_gb": 80.0}, fp8={"hbm_tbps": 10.0, "hbm_gb": 80.0,
                                                                         "fp8_tflops": 2000.0})
    workloads = make_workloads(q={"precision": "fp8", "context_tokens": 100.0},
                               int4={"params_b": 70.0, "precision": "int4", "context_tokens": 100.0},
                               bf16={"params_b": 70.0, "precision": "bf16", "context_tokens": 100.0})
    result = estimate_performance(catalog, workloads, NO_OVERRIDES)
    assert result.loc[("q", "nofp8"), "tokens_per_s_per_node"] == pytest.approx(31_250.0)
    assert result.loc[("q", "fp8"), "tokens_per_s_per_node"] == pytest.approx(62_500.0)
    assert result.loc[("int4", "nofp8"), "min_nodes"] == 1
    assert result.loc[("bf16", "nofp8"), "min_nodes"] == 2


# ------------------------------------------------------------------------------------------ overrides

def test_throughput_override_wins_and_zero_is_ineligible():
    """Override 1000 tok/s for a 1B-param, 1B-token run -> 1e9 / 1000 / 3600 = 277.8 node-hours, implied
    MFU 1000 x 6e9 / 1e15 = 0.006. Override 0 -> ineligible. A positive override also clears a failed
    fit (the measurement proves the pair runs)."""
    catalog = make_catalog(g={}, tiny={"hbm_gb": 1.0})
    workloads = make_workloads(run=train(params_b=1.0, tokens_b=1.0), serve={}, huge={"params_b": 405.0})
    overrides = pd.DataFrame({"workload": ["run", "serve", "huge"], "sku": ["g", "g", "tiny"],
                              "tokens_per_s_per_node": [1000.0, 0.0, 5.0]})
    result = estimate_performance(catalog, workloads, overrides)
    run = result.loc[("run", "g")]
    assert run["tokens_per_s_per_node"] == 1000.0
    assert run["node_hours"] == pytest.approx(1e9 / 1000 / 3600)
    assert run["mfu"] == pytest.approx(0.006)
    serve = result.loc[("serve", "g")]
    assert not serve["eligible"] and serve["reason"] == "throughput override is 0"
    assert serve["tokens_per_s_per_node"] == 0.0
    assert result.loc[("huge", "tiny"), "eligible"] and result.loc[("huge", "tiny"), "tokens_per_s_per_node"] == 5.0
    assert not estimate_performance(catalog, workloads, NO_OVERRIDES).loc[("huge", "tiny"), "eligible"]


# ------------------------------------------------------------------------------------------ properties

@settings(max_examples=60, deadline=None)
@given(params_b=st.floats(1.0, 500.0), context=st.floats(100.0, 32_000.0), slo=st.floats(1.0, 200.0),
       tbps=st.floats(0.5, 10.0), precision=st.sampled_from(["bf16", "fp8", "int8", "int4"]))
def test_tighter_slo_never_raises_throughput_and_is_met(params_b, context, slo, tbps, precision):
    """A stricter per-user SLO can only shrink the batch: never more tokens/s, never eligible when the looser is not."""
    catalog = make_catalog(g={"gpus_per_node": 8, "hbm_gb": 141.0, "hbm_tbps": tbps, "fp8_tflops": 1979.0})
    workloads = make_workloads(loose={"params_b": params_b, "context_tokens": context, "precision": precision,
                                      "min_tokens_per_s_per_user": slo},
                               tight={"params_b": params_b, "context_tokens": context, "precision": precision,
                                      "min_tokens_per_s_per_user": 2 * slo})
    result = estimate_performance(catalog, workloads, NO_OVERRIDES)
    loose, tight = result.loc[("loose", "g")], result.loc[("tight", "g")]
    if loose["eligible"] and tight["eligible"]:
        assert tight["tokens_per_s_per_node"] <= loose["tokens_per_s_per_node"] * (1 + 1e-9)
    if tight["eligible"]:
        assert loose["eligible"]
