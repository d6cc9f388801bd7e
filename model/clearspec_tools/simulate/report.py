"""The replay's report: a JSON summary, CSV files of events and per-bar series, a text table.

Amounts of money in the JSON are decimal strings in quote base units (the
conformance vectors' convention: no JSON numbers for money), with the number of
quote decimals declared once; counts are plain numbers.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from clearspec import SPEC_VERSION, __version__
from clearspec.params_file import params_to_json
from clearspec_tools.simulate.engine import SimResult
from clearspec_tools.simulate.paths import format_time


def money(amount: int, decimals: int) -> str:
    """Base units as a decimal string of whole units (``1234567`` -> ``"1.234567"``)."""
    sign = "-" if amount < 0 else ""
    digits = str(abs(amount)).rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}" if decimals else f"{sign}{digits}"


def usd(amount: int, decimals: int) -> str:
    """A short human figure: ``$1.23M``, ``$45.6k``, ``$12.34``."""
    value = amount / 10**decimals
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"${value / limit:.2f}{suffix}"
    return f"${value:.2f}"


def params_digest(result: SimResult) -> str:
    """SHA-256 of the parameter set's canonical JSON (to tell runs apart)."""
    text = json.dumps(params_to_json(result.params), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def summary(result: SimResult) -> dict[str, Any]:
    """The figures a person compares: liquidations, the fund, bad debt, deleveraging."""
    decimals = result.config.quote_decimals
    t = result.totals
    fund = result.series.fund
    low, low_at = result.fund_min
    wiped = sum(
        1
        for name, start in result.initial_nc.items()
        if start > 0 and result.final_nc.get(name, 0) * 100 <= start
    )
    ledger = result.final_ledger
    deleveraged = {e.account for e in result.events if e.kind == "deleverage"}

    def amount(value: int) -> str:
        return money(value, decimals)

    return {
        "liquidations": t.get("liquidations", 0),
        "accounts_liquidated": len(result.liquidated_accounts),
        "volume_liquidated": amount(t.get("liquidated_notional", 0)),
        "liquidation_fees_to_fund": amount(t.get("liquidation_fees", 0)),
        "trading_fees_to_fee_pool": amount(ledger.fee_pool[ledger.params.quote_asset]),
        "insurance_fund": {
            "start": amount(result.initial_fund),
            "end": amount(fund[-1] if fund else result.initial_fund),
            "min": amount(low),
            "min_at": format_time(result.start_time + low_at),
        },
        "bad_debt": {
            "total": amount(t.get("bad_debt", 0)),
            "paid_by_fund_in_liquidations": amount(t.get("fund_paid_liquidations", 0)),
            "paid_by_fund_covering_accounts": amount(t.get("fund_paid_cover", 0)),
            "socialised": amount(t.get("socialised", 0)),
            "passed_to_deleveraging_counterparties": amount(t.get("passed_on", 0)),
            "uncovered": amount(t.get("uncovered_bad_debt", 0)),
        },
        "deleveraging": {
            "events": t.get("deleverages", 0),
            "accounts": len(deleveraged),
            "volume": amount(t.get("deleveraged_notional", 0)),
        },
        "collateral_liquidations": {
            "events": t.get("collateral_liquidations", 0),
            "accounts": len({e.account for e in result.events if e.kind == "collateral_liquidation"}),
            "repaid": amount(t.get("collateral_repaid", 0)),
            "fees_to_fund": amount(t.get("collateral_liquidation_fees", 0)),
            "stuck": t.get("collateral_stuck", 0),
            "borrowers": t.get("loans", 0),
        },
        "accounts_bankrupt": len(result.bankrupt_accounts),
        "accounts_wiped_out": wiped,
        "open_interest": {
            market: {"start": str(values[0]), "end": str(values[-1])}
            for market, values in result.series.open_interest.items()
            if values
        },
    }


def invariant_report(result: SimResult) -> dict[str, Any]:
    """Which checks ran how often, and whether they held."""
    tally = result.checks
    rows = [
        {
            "check": name,
            "rule": tally.rules.get(name, ""),
            "runs": tally.runs[name],
            "passed": tally.passed[name],
        }
        for name in tally.runs
    ]
    return {
        "passed": result.passed,
        "fast_checks": result.fast_checks,
        "fast_checks_note": "INV-1..INV-3 over the touched accounts, after every accepted action "
        "(the postcondition of clearspec.transition.apply)",
        "global_checks_run": sum(r["runs"] for r in rows),
        "global_checks_passed": sum(r["passed"] for r in rows),
        "check_every_bars": result.config.check_every,
        "checks": rows,
        "failures": tally.failures,
        "aborted": result.aborted,
    }


def replay_status(result: SimResult) -> dict[str, Any]:
    """Whether the replay happened as described: ``complete``; ``degraded`` when the
    model refused set-up or path actions and the user tolerated it; ``incomplete``
    (a failed run) when it refused them and the user did not."""
    refused = result.refused
    status = "complete" if not refused else "degraded" if result.config.tolerate_refusals else "incomplete"
    return {"status": status, "refused_total": sum(refused.values()), "refused_actions": refused}


def report(result: SimResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole JSON report of one replay."""
    decimals = result.config.quote_decimals
    paths = []
    for path in result.paths:
        bars = path.bars
        low = min(bars, key=lambda b: (b.low, b.time))
        paths.append(
            {
                "feed": path.feed,
                "file": path.source,
                "bars": len(bars),
                "spacing_s": path.spacing,
                "first": format_time(bars[0].time),
                "last": format_time(bars[-1].time),
                "open": str(bars[0].open),
                "low": str(low.low),
                "low_at": format_time(low.time),
                "close": str(bars[-1].close),
                "price_exponent": path.exponent,
                "prices_rounded": path.rounded,
            }
        )
    per_bar = result.series.seconds
    return {
        "clearspec": __version__,
        "spec_version": SPEC_VERSION,
        "label": result.label,
        "passed": result.passed,
        "replay": replay_status(result),
        "amounts": f"quote base units as decimal strings of whole units ({decimals} decimals)",
        "inputs": {
            "paths": paths,
            "params_sha256": params_digest(result),
            "accounts": len(result.population.accounts),
            "seed": result.population.seed,
            "start": format_time(result.start_time),
            "bars": result.bars,
        },
        "config": dataclasses.asdict(result.config),
        "population": {
            **result.population.stats(),
            "distributions": dataclasses.asdict(result.population.config),
        },
        "summary": summary(result),
        "invariants": invariant_report(result),
        "engine": {
            "oracle_updates": result.updates,
            "actions": dict(sorted(result.actions.items())),
            "rejected_actions": dict(sorted(result.rejections.items())),
            "accounts_examined": result.examined,
            "examined_per_oracle_update": round(result.examined / max(result.updates, 1), 3),
            "circuit_breaker_splits": result.totals.get("breaker_splits", 0),
            "interval_caps": result.totals.get("interval_caps", 0),
            "stuck_liquidations": result.totals.get("stuck", 0),
            "pending_at_end": result.pending[:50],
            "backstop_accounts": sum(1 for n in result.final_ledger.accounts if n.startswith("backstop-")),
        },
        "timing": {
            "setup_s": round(result.setup_seconds, 3),
            "replay_s": round(result.replay_seconds, 3),
            "per_bar_ms_mean": round(1000 * sum(per_bar) / max(len(per_bar), 1), 3),
        },
        **(extra or {}),
    }


def write_csvs(result: SimResult, folder: Path) -> list[Path]:
    """``events.csv`` (one row per liquidation, deleveraging, bad-debt cover) and
    ``series.csv`` (one row per bar)."""
    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "events.csv"
    with events.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [
                "time_utc",
                "kind",
                "account",
                "market",
                "size",
                "price",
                "oracle",
                "notional",
                "fund_delta",
                "socialised",
                "passed_on",
                "detail",
            ]
        )
        for e in result.events:
            writer.writerow(
                [
                    format_time(result.start_time + e.time),
                    e.kind,
                    e.account,
                    e.market,
                    e.size,
                    e.price,
                    e.oracle,
                    e.notional,
                    e.fund_delta,
                    e.socialised,
                    e.passed_on,
                    e.detail,
                ]
            )
    series = folder / "series.csv"
    s = result.series
    feeds = sorted(s.prices)
    markets = sorted(s.open_interest)
    with series.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [
                "time_utc",
                *[f"price[{f}]" for f in feeds],
                "insurance_fund",
                *[f"open_interest[{m}]" for m in markets],
                "liquidations",
                "deleverages",
                "bad_debt",
                "accounts_examined",
            ]
        )
        for i, moment in enumerate(s.time):
            writer.writerow(
                [
                    format_time(moment),
                    *[s.prices[f][i] for f in feeds],
                    s.fund[i],
                    *[s.open_interest[m][i] for m in markets],
                    s.liquidations[i],
                    s.deleverages[i],
                    s.bad_debt[i],
                    s.examined[i],
                ]
            )
    return [events, series]


SUMMARY_ROWS: list[tuple[str, str]] = [
    ("liquidations", "liquidations"),
    ("accounts_liquidated", "accounts liquidated"),
    ("volume_liquidated", "volume liquidated"),
    ("liquidation_fees_to_fund", "liquidation fees to the fund"),
    ("insurance_fund.start", "insurance fund at start"),
    ("insurance_fund.min", "insurance fund minimum"),
    ("insurance_fund.min_at", "  reached at"),
    ("insurance_fund.end", "insurance fund at end"),
    ("bad_debt.total", "bad debt (deficits beyond collateral)"),
    ("bad_debt.paid_by_fund_in_liquidations", "  paid by the fund in liquidations"),
    ("bad_debt.paid_by_fund_covering_accounts", "  paid by the fund covering accounts"),
    ("bad_debt.socialised", "  socialised"),
    ("bad_debt.passed_to_deleveraging_counterparties", "  passed to deleveraged counterparties"),
    ("bad_debt.uncovered", "  uncovered"),
    ("deleveraging.events", "deleveraging events"),
    ("deleveraging.volume", "volume deleveraged"),
    ("collateral_liquidations.events", "collateral liquidations"),
    ("collateral_liquidations.repaid", "  debt repaid by them"),
    ("collateral_liquidations.fees_to_fund", "  fees to the fund"),
    ("accounts_bankrupt", "accounts bankrupt"),
    ("accounts_wiped_out", "accounts wiped out (>= 99% lost)"),
]
MONEY_KEYS = {
    "volume_liquidated",
    "liquidation_fees_to_fund",
    "insurance_fund.start",
    "insurance_fund.min",
    "insurance_fund.end",
    "bad_debt.total",
    "bad_debt.paid_by_fund_in_liquidations",
    "bad_debt.paid_by_fund_covering_accounts",
    "bad_debt.socialised",
    "bad_debt.passed_to_deleveraging_counterparties",
    "bad_debt.uncovered",
    "deleveraging.volume",
    "collateral_liquidations.repaid",
    "collateral_liquidations.fees_to_fund",
}


def _lookup(data: dict[str, Any], key: str) -> Any:
    value: Any = data
    for part in key.split("."):
        value = value[part]
    return value


def _cell(data: dict[str, Any], key: str, decimals: int) -> str:
    value = _lookup(data, key)
    if key in MONEY_KEYS:
        whole, _, fraction = str(value).partition(".")
        return usd(int(whole + fraction.ljust(decimals, "0")[:decimals]), decimals)
    return str(value)


def table(reports: list[dict[str, Any]], decimals: int = 6) -> str:
    """The summaries of one or more reports side by side, with the invariant tally."""
    width = max(len(label) for _, label in SUMMARY_ROWS) + 2
    columns = [_short(r.get("label") or f"run {i + 1}") for i, r in enumerate(reports)]
    rows: list[tuple[str, list[str]]] = [
        (label, [_cell(r["summary"], key, decimals) for r in reports]) for key, label in SUMMARY_ROWS
    ]
    rows.append(
        (
            "global checks passed/run",
            [
                f"{r['invariants']['global_checks_passed']}/{r['invariants']['global_checks_run']}"
                for r in reports
            ],
        )
    )
    rows.append(("fast checks (every action)", [str(r["invariants"]["fast_checks"]) for r in reports]))
    rows.append(("replay", [_replay_cell(r["replay"]) for r in reports]))
    rows.append(("invariants", ["PASS" if r["passed"] else "FAIL" for r in reports]))
    column = max(12, *(len(c) for c in columns), *(len(c) for _, cells in rows for c in cells)) + 2
    lines = ["".ljust(width) + "".join(c.rjust(column) for c in columns)]
    lines += [label.ljust(width) + "".join(c.rjust(column) for c in cells) for label, cells in rows]
    for r in reports:
        replay = r["replay"]
        if replay["refused_total"]:
            refused = ", ".join(f"{key} x{n}" for key, n in replay["refused_actions"].items())
            what = (
                "DEGRADED (tolerated)"
                if replay["status"] == "degraded"
                else "FAILED: the replay did not happen"
            )
            lines.append(f"  {r.get('label', '')}: {what}: the model refused {refused}")
        for failure in r["invariants"]["failures"][:5]:
            lines.append(
                f"  {r.get('label', '')}: {failure['check']} ({failure['rule']}) at t={failure['time']}: "
                f"{failure['detail']}"
            )
    return "\n".join(lines)


def _replay_cell(replay: dict[str, Any]) -> str:
    if replay["status"] == "complete":
        return "complete"
    return f"{replay['status'].upper()} ({replay['refused_total']} refused)"


def _short(label: str, limit: int = 24) -> str:
    return label if len(label) <= limit else label[: limit - 3] + "..."


def write_report(data: dict[str, Any], path: Path) -> Path:
    """Write the JSON report (indented, keys in order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
