"""`planner plan SCENARIO --json PLAN.json`: the cheapest purchase, rental and placement plan."""

from __future__ import annotations

import click

from models.baselines import BASELINES, SINGLE_SKU
from models.stochastic_limits import (AUTO_MAX_FUTURES, DEFAULT_AUTO_TOLERANCE, DEFAULT_CVAR_ALPHA,
                                     MAX_STOCHASTIC_FUTURES)
from planner.baselines import baseline_run, best_of_plan_and_baselines, options_for
from planner.pipeline import build_plan, plan_document, run_plan, verify_document
from planner.progress import SolveProgress
from planner.scenario import SOLVER_BACKENDS, load_scenario
from planner.commands.explain import gpus_per_node
from reports.atomic import check_writable, write_json_atomic
from reports.console import explain_order, find_order, plan_tables


def slo_lines(document: dict, loaded) -> list[str]:
    """One line per TTFT quantile service: in how many of its served quarters the SLO, not throughput, set the
    replicas, and the largest such gap (PLAN.json `slo`)."""
    rows = document.get("slo") or []
    lines = []
    for workload in dict.fromkeys(row["workload"] for row in rows):
        own = [row for row in rows if row["workload"] == workload]
        quarters = {row["quarter"] for row in own}
        binding = [row for row in own if row["sized_by"] == "slo"]
        spec = loaded.workloads.loc[workload]
        head = f"TTFT SLO {workload} (P{spec['ttft_quantile'] * 100:g} <= {spec['max_ttft_s']:g} s): "
        if not binding:
            lines.append(head + f"throughput sets the replicas in all {len(quarters)} quarter(s) served")
            continue
        worst = max(binding, key=lambda row: row["slo_replicas"] - row["throughput_replicas"])
        lines.append(head + f"the SLO sets the replicas in {len({r['quarter'] for r in binding})} of "
                     f"{len(quarters)} quarter(s) served; at most {worst['slo_replicas']:,.0f} replicas against "
                     f"{worst['throughput_replicas']:,.2f} for throughput ({worst['quarter']} on {worst['sku']}, "
                     f"utilisation <= {worst['utilisation_cap']:.1%})")
    return lines
AUTO = "auto"


class FuturesCount(click.ParamType):
    """--stochastic N (1 … MAX_STOCHASTIC_FUTURES) or `auto` (the convergence check picks N)."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or str(value).lower() != AUTO:
            return click.IntRange(min=1, max=MAX_STOCHASTIC_FUTURES).convert(value, param, ctx)
        return AUTO


@click.command("plan")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write PLAN.json here.")
@click.option("-o", "--output", "xlsx_path", type=click.Path(dir_okay=False), help="Write the workbook here.")
@click.option("--solver", type=click.Choice(SOLVER_BACKENDS), default=None,
              help="MILP backend (default: the scenario's solver.backend, else scip).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds before the best plan found so far is returned.")
@click.option("--gap", type=click.FloatRange(min=0), default=None, help="Relative optimality gap to stop at.")
@click.option("--strict", is_flag=True, help="Forbid unmet demand and unfinished runs; report infeasibility.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), help="Also write the report tables as CSV here.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Also write a self-contained HTML report with interactive charts here (docs/html-report.md).")
@click.option("--no-risk", is_flag=True, help="Skip the default Monte-Carlo evaluation behind the workbook's "
                                              "Risk and Sensitivity sheets.")
@click.option("--quiet", is_flag=True, help="No progress line on stderr while solving.")
@click.option("--baseline", type=click.Choice(BASELINES), default=None,
              help="Write this baseline's own plan instead of the optimum (docs/baselines.md).")
@click.option("--sku", default=None, help="With --baseline single-sku: the one SKU to buy and rent "
                                          "(default: the cheapest such plan over all SKUs).")
@click.option("--no-baselines", is_flag=True, help="Skip pricing the baselines the optimal plan is compared with.")
@click.option("--stochastic", "futures", type=FuturesCount(), default=None,
              help="Two-stage plan: purchases that minimise mean TCO (+ λ·CVaR) over N sampled futures; `auto` "
                   "doubles N until the in-sample/out-of-sample gap's 95 % half-width is within --futures-tolerance.")
@click.option("--futures-tolerance", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"With --stochastic auto: the half-width's tolerance as a fraction of E[TCO] (default "
                   f"{DEFAULT_AUTO_TOLERANCE:g}; at most {AUTO_MAX_FUTURES} futures).")
@click.option("--reduce-to", type=click.IntRange(min=1), default=None,
              help="With --stochastic N: solve the two-stage program on K representative futures (fast forward "
                   "selection, with probabilities) and price the plan on all N.")
@click.option("--evpi", "evpi_futures", type=click.IntRange(min=1), default=None,
              help="With --stochastic: also solve the first M futures with perfect information and report EVPI.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="With --stochastic: the sampler's seed (default: the scenario's risk.seed).")
@click.option("--cvar-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="With --stochastic: λ, the weight of CVaR_α in the objective.")
@click.option("--cvar-alpha", type=click.FloatRange(min=0, max=1, max_open=True), default=DEFAULT_CVAR_ALPHA,
              show_default=True, help="With --stochastic: α of CVaR.")
@click.option("--horizon-quarters", type=click.IntRange(min=1), default=None,
              help="Rolling horizon: plan H quarters at a time, each window's earlier decisions frozen, and report "
                   "the cost of myopia against perfect foresight (docs/review.md).")
@click.option("--overlap-quarters", type=click.IntRange(min=0), default=None,
              help="With --horizon-quarters: quarters of a window the next one re-decides (PyPSA's overlap; "
                   "default 0, the window steps by H).")
@click.option("--explain", "explain", metavar="ORDER", default=None,
              help="Also say why this order is made: its number in the order table or QUARTER/SITE/SKU "
                   "(as `planner explain PLAN.json ORDER` does for a saved plan).")
def command(scenario, json_path, xlsx_path, solver, time_limit, gap, strict, csv_dir, html_path, no_risk, quiet,
            baseline, sku, no_baselines, futures, futures_tolerance, reduce_to, evpi_futures, seed, cvar_weight,
            cvar_alpha, horizon_quarters,
            overlap_quarters, explain) -> None:
    """Decide orders, rentals and placement per quarter at the lowest discounted total cost.

    The plan is verified on an independent, solver-free path before anything is written. With -o, a default
    risk evaluation (the scenario's risk: settings, 4,000 samples unless set) adds the Risk and Sensitivity sheets
    (and, with --html, the page's risk charts).
    Unless --no-baselines, the plan is compared with how procurement is done without the optimiser (greedy,
    single-sku, just-in-time), each priced alike; one cheaper than the solver's plan becomes the plan (its solver
    reads e.g. scip+baseline:single-sku:H100, its status and gap against the solver's bound). --baseline NAME
    writes that baseline's own plan instead.
    """
    if sku is not None and baseline != SINGLE_SKU:
        raise click.UsageError("--sku goes with --baseline single-sku")
    loaded = load_scenario(scenario)
    if sku is not None and sku not in loaded.catalog.index:
        raise click.BadParameter(f"{sku!r} is not in the catalog ({', '.join(loaded.catalog.index)})",
                                 param_hint="--sku")
    for path in (json_path, xlsx_path, html_path):
        if path:
            check_writable(path)
    if csv_dir:
        check_writable(csv_dir, directory=True)
    if futures is None and (seed is not None or cvar_weight or cvar_alpha != DEFAULT_CVAR_ALPHA
                            or reduce_to is not None or evpi_futures is not None):
        raise click.UsageError("--seed, --cvar-weight, --cvar-alpha, --reduce-to and --evpi go with --stochastic N")
    if futures_tolerance is not None and futures != AUTO:
        raise click.UsageError("--futures-tolerance goes with --stochastic auto")
    if reduce_to is not None and futures != AUTO and reduce_to >= futures:
        raise click.UsageError(f"--reduce-to ({reduce_to}) must be fewer than the --stochastic futures ({futures})")
    if futures is not None and (strict or baseline is not None):
        raise click.UsageError("--stochastic prices every shortfall and writes its own plan: it does not combine "
                               "with --strict or --baseline")
    if overlap_quarters is not None and horizon_quarters is None:
        raise click.UsageError("--overlap-quarters goes with --horizon-quarters H")
    if horizon_quarters is not None and overlap_quarters is not None and overlap_quarters >= horizon_quarters:
        raise click.UsageError(f"--overlap-quarters ({overlap_quarters}) must be smaller than --horizon-quarters "
                               f"({horizon_quarters}): the window must step forward")
    if horizon_quarters is not None and (futures is not None or strict or baseline is not None):
        raise click.UsageError("--horizon-quarters writes its own plan: it does not combine with --stochastic, "
                               "--strict or --baseline")
    stochastic = myopic = None
    if horizon_quarters is not None:
        from planner.myopic import run_myopic_plan
        from planner.progress import stderr_say

        with SolveProgress(quiet=quiet) as progress:
            myopic = run_myopic_plan(loaded, horizon_quarters, overlap_quarters or 0, backend=solver,
                                     time_limit_s=time_limit, gap=gap, progress=progress,
                                     say=stderr_say(quiet, "myopic"))
        document = myopic.document
    elif futures is not None:
        from planner.progress import stderr_say
        from planner.stochastic import run_stochastic_plan

        with SolveProgress(quiet=quiet) as progress:
            options = dict(seed=seed, cvar_weight=cvar_weight, cvar_alpha=cvar_alpha, backend=solver,
                           time_limit_s=time_limit, gap=gap, progress=progress, reduce_to=reduce_to,
                           evpi_futures=evpi_futures or 0)
            if futures == AUTO:
                from planner.stochastic import run_stochastic_auto

                stochastic = run_stochastic_auto(loaded, tolerance=futures_tolerance or DEFAULT_AUTO_TOLERANCE,
                                                 say=stderr_say(quiet), **options)
            else:
                stochastic = run_stochastic_plan(loaded, futures, say=stderr_say(quiet), **options)
        document = stochastic.document
    elif baseline is not None:
        built = build_plan(loaded, strict=strict)
        options = options_for(built, solver, time_limit, gap, beside_a_plan=False)
        document = plan_document(baseline_run(built, baseline, options, sku=sku))
    else:
        with SolveProgress(quiet=quiet) as progress:
            run = run_plan(loaded, backend=solver, time_limit_s=time_limit, gap=gap, strict=strict,
                           progress=progress)
        baselines = []
        if not no_baselines:
            if progress.live:  # a terminal: say why it takes longer (a log gets the summary line alone)
                click.echo("pricing the baselines (greedy, single-sku, just-in-time; --no-baselines skips them)",
                           err=True)
            # Any plan computed is a candidate: a baseline cheaper than the solver's incumbent becomes the plan.
            run, baselines = best_of_plan_and_baselines(run, options_for(run.built, solver, time_limit, gap))
        document = plan_document(run, baselines)
    verify_document(loaded, document)
    explained = None
    if explain is not None:
        try:
            explained = find_order(document, explain)
        except ValueError as error:  # before anything is written
            raise click.BadParameter(str(error), param_hint="--explain") from None
    risk = None
    if (xlsx_path or html_path) and not no_risk:
        from models.risk import evaluate_plan, use_all_cpu_cores

        use_all_cpu_cores()
        if stochastic is not None:
            from planner.stochastic import out_of_sample

            risk = out_of_sample(loaded, stochastic)
        else:
            from models.risk_schema import assemble_risk
            from models.risk_settings import allocation_label, risk_settings

            risk = evaluate_plan(loaded, document)
            rule = risk_settings(loaded).allocation
            risk = assemble_risk({**risk, "allocation": rule, "allocation_label": allocation_label(rule)})
    # Everything is computed before the first file is written: a failure leaves no partial set of outputs.
    if json_path:
        write_json_atomic(json_path, document)
    if xlsx_path:
        from reports.workbook import write_workbook

        write_workbook(xlsx_path, document, loaded, risk=risk)
    if csv_dir:
        from reports.csv_writer import write_csv_tables

        write_csv_tables(csv_dir, document, loaded)
    if html_path:
        from reports.html_report import write_html_report

        write_html_report(html_path, document, loaded, risk=risk)
    gap_text = f"{document['gap']:.3%}" if document["gap"] is not None else "n/a"
    click.echo(f"{loaded.name}: {document['status']} ({document['solver']}, gap {gap_text}, "
               f"{document['solve_seconds']:.1f} s): discounted spend ${document['discounted_spend_usd']:,.2f} + "
               f"shortfall penalties ${document['discounted_penalty_usd']:,.2f} "
               f"(objective ${document['objective_usd']:,.2f}); "
               f"{len(document['purchases'])} orders, {len(document['rentals'])} rentals, "
               f"{len(document['unmet'])} quarter-workloads with unmet demand")
    if document["baselines"]:
        click.echo("saving against " + "; ".join(baseline_text(row) for row in document["baselines"]))
    for line in slo_lines(document, loaded):
        click.echo(line)
    gpus = gpus_per_node(loaded)
    for line in plan_tables(document, gpus):
        click.echo(line)
    if explained is not None:
        for line in explain_order(document, explained, gpus):
            click.echo(line)
    if stochastic is not None:
        figures = document["stochastic"]
        click.echo(f"stochastic ({figures['samples']:,} futures, seed {figures['seed']}): expected TCO "
                   f"${figures['expected_tco_usd']:,.0f} vs the deterministic plan's "
                   f"${figures['deterministic_expected_tco_usd']:,.0f} (VSS ${figures['vss_usd']:,.0f}), "
                   f"CVaR{figures['cvar_alpha']:.0%} ${figures['cvar_usd']:,.0f}")
        if "chosen" in figures:
            click.echo(f"validation ({figures['validation_samples']:,} unseen futures, seed "
                       f"{figures['validation_seed']}): two-stage − deterministic "
                       f"{_signed_usd(figures['validation_difference_usd'])} (± ${figures['validation_difference_ci95_usd']:,.0f}"
                       f", 95 %); in-sample optimism {_signed_usd(figures['in_sample_optimism_usd'])}; wrote the "
                       f"{figures['chosen']} plan")
        if "reduced_to" in figures:
            click.echo(f"scenario reduction: solved on {figures['reduced_to']:,} of the {figures['samples']:,} "
                       f"futures (fast forward selection, {figures['reduction_seconds']:.1f} s); figures on all "
                       f"{figures['samples']:,}")
        if "evpi_usd" in figures:
            click.echo(f"EVPI ({figures['evpi_samples']:,} futures solved with perfect information): "
                       f"${figures['evpi_usd']:,.0f} ± ${figures['evpi_ci95_usd']:,.0f} (95 %), E[wait-and-see TCO] "
                       f"${figures['wait_and_see_expected_tco_usd']:,.0f}; VSS ${figures['vss_usd']:,.0f} ± "
                       f"${figures['vss_ci95_usd']:,.0f}")
        if "convergence" in figures:
            check = figures["convergence"]
            tried = ", ".join(f"{step['samples']:,} ({step['half_width_fraction']:.2%})" for step in check["steps"])
            click.echo(f"convergence ({'met' if check['converged'] else 'NOT met: the cap was reached'}, tolerance "
                       f"{check['tolerance']:.2%} of E[TCO]): N tried (optimism half-width) {tried}")
    if myopic is not None:
        figures = document["myopic"]
        click.echo(f"myopic (windows of {figures['horizon_quarters']} quarter(s), overlap "
                   f"{figures['overlap_quarters']}, {len(figures['windows'])} window(s)): TCO "
                   f"${document['objective_usd']:,.0f} vs perfect foresight "
                   f"${figures['perfect_foresight_objective_usd']:,.0f}: cost of myopia "
                   f"${figures['myopia_cost_usd']:,.0f} ({figures['myopia_cost_pct']:.2%})")
    if risk is not None and "comparison" in risk:
        for allocation, key in (("plan-first", "plans"), ("optimal", "optimal_recourse")):
            for name, row in risk["comparison"][key].items():
                click.echo(f"out of sample ({risk['samples']:,} futures, seed {risk['seed']}, {allocation}), {name} "
                           f"plan: E[TCO] ${row['mean_usd']:,.0f}, P95 ${row['p95_usd']:,.0f}, CVaR95 "
                           f"${row['cvar95_usd']:,.0f}, worst-quarter shortfall probability "
                           f"{row['shortfall_probability']:.1%}")
    elif risk is not None:
        tco = risk["tco_usd"]
        click.echo(f"risk ({risk['samples']:,} futures, {risk['allocation']} allocation: the Risk sheet's; "
                   f"`planner evaluate` defaults to the optimal recourse): TCO mean ${tco['mean']:,.0f}, "
                   f"P50 ${tco['p50']:,.0f}, P95 ${tco['p95']:,.0f}, CVaR95 ${tco['cvar95']:,.0f}")


def _signed_usd(value: float) -> str:
    return f"{'−' if value < 0 else '+'}${abs(value):,.0f}"


def baseline_text(row: dict) -> str:
    """One baseline in the console line: its objective and the optimal plan's saving, or why it failed."""
    if row["objective_usd"] is None:
        return f"{row['name']}: failed ({row['detail']})"
    saving = row["saving_usd"]  # negative where the baseline beat this plan (a time-limited or heuristic one)
    # What the rule leaves undone (its penalties are most of such a saving) and whether its solve was cut short.
    caveats = [part.strip() for part in (row.get("detail") or "").split(",")
               if "unfinished" in part or "unmet demand" in part]
    if row.get("status") not in (None, "optimal"):
        caveats.append("stopped at its time limit")
    note = f"; {', '.join(caveats)}" if caveats else ""
    return (f"{row['name']} (${row['objective_usd']:,.0f}{note}): {'-' if saving < 0 else ''}${abs(saving):,.0f} "
            f"({row['saving_pct']:.1%})")
