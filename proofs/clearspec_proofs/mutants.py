"""The mutation catalogue: small bugs planted in the model, one at a time.

Each mutant replaces one exact snippet of a file under ``model/clearspec`` (it
must occur exactly once) and names the transitions whose obligations should
catch it, so a campaign runs those first (``clearspec mutate``,
:mod:`clearspec_proofs.mutation`). A mutant that the proofs are known not to
kill says why: either it is *equivalent* (no state the prover can reach tells
it apart from the model) or an obligation is *missing* (and which one would
catch it). The catalogue models real bugs: flipped rounding, a dropped fee or
fund debit, off-by-one thresholds, swapped comparisons, missing preconditions.

Pure data: no import of the model, so the harness can load it before it
decides which copy of the model to import.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = (
    "rounding",
    "fee",
    "fund",
    "debit",
    "threshold",
    "comparison",
    "precondition",
    "sign",
    "effect",
    "identity",
)

# Parameter sets a mutant can be proved under (see mutation.params_for).
PARAMS_VARIANTS = ("example", "socialise")


@dataclass(frozen=True)
class Mutant:
    """One planted bug."""

    id: str
    file: str  # relative to model/clearspec
    original: str  # must occur exactly once in the file
    replacement: str
    category: str
    cases: tuple[str, ...]  # transitions (or "lemma") whose obligations should kill it, cheapest first
    bug: str  # the real bug it models
    equivalent: str = ""  # why no reachable state tells it apart from the model
    missing: str = ""  # the obligation that would kill it
    params: str = "example"  # the parameter set it is proved under

    @property
    def expected_to_survive(self) -> bool:
        return bool(self.equivalent or self.missing)


def _m(*args: str | tuple[str, ...], **kwargs: str) -> Mutant:
    ident, file, original, replacement, category, cases, bug = args
    assert isinstance(cases, tuple)
    return Mutant(
        str(ident), str(file), str(original), str(replacement), str(category), cases, str(bug), **kwargs
    )


KERNEL = (
    _m(
        "K01-div-floor-rounds-up",
        "kernel.py",
        "return cast(int, cast(Any, a) / cast(Any, divisor))",
        "return cast(int, -(-cast(Any, a) / cast(Any, divisor)))",
        "rounding",
        ("lemma",),
        "symbolic floor division rounds up (ceil) instead of down",
    ),
    _m(
        "K02-div-floor-truncates",
        "kernel.py",
        "return a // divisor",
        "return -(-a // divisor) if a < 0 else a // divisor",
        "rounding",
        ("trade-buy", "lemma"),
        "concrete floor division truncates toward zero (Go/Rust/Solidity semantics)",
    ),
    _m(
        "K03-div-ceil-rounds-down",
        "kernel.py",
        "return -div_floor(-a, divisor)",
        "return div_floor(a, divisor)",
        "rounding",
        ("lemma",),
        "ceil division rounds down",
    ),
    _m(
        "K04-div-ceil-off-by-one",
        "kernel.py",
        "return -div_floor(-a, divisor)",
        "return div_floor(a, divisor) + 1",
        "threshold",
        ("lemma",),
        "ceil written as floor + 1 (one too many on exact quotients)",
    ),
    _m(
        "K05-mul-div-floor-rounds-up",
        "kernel.py",
        "return div_floor(a * b, divisor)",
        "return div_ceil(a * b, divisor)",
        "rounding",
        ("withdraw-collateral", "trade-buy", "liquidate"),
        "values (notional, collateral, fee cap) round up, in the account's favour",
    ),
    _m(
        "K06-mul-div-ceil-rounds-down",
        "kernel.py",
        "return div_ceil(a * b, divisor)",
        "return div_floor(a * b, divisor)",
        "rounding",
        ("lemma", "trade-buy"),
        "requirements, fees and funding owed round down, against the protocol",
    ),
    _m(
        "K07-min-returns-max",
        "kernel.py",
        "return ite(a <= b, a, b)",
        "return ite(a <= b, b, a)",
        "comparison",
        ("lemma",),
        "min_ returns the larger amount",
    ),
    _m(
        "K08-min-strict",
        "kernel.py",
        "return ite(a <= b, a, b)",
        "return ite(a < b, a, b)",
        "comparison",
        ("lemma",),
        "min_ compares strictly",
        equivalent="when a == b both branches are the same value",
    ),
    _m(
        "K09-max-returns-min",
        "kernel.py",
        "return ite(a >= b, a, b)",
        "return ite(a >= b, b, a)",
        "comparison",
        ("lemma",),
        "max_ returns the smaller amount",
    ),
    _m(
        "K10-abs-keeps-sign",
        "kernel.py",
        "return ite(a >= 0, a, -a)",
        "return ite(a >= 0, a, a)",
        "sign",
        ("trade-buy", "liquidate"),
        "abs_ forgets to negate (a short's size stays negative in limits and requirements)",
    ),
    _m(
        "K11-clamp-order",
        "kernel.py",
        "return min_(max_(a, low), high)",
        "return max_(min_(a, high), low)",
        "comparison",
        ("lemma",),
        "clamp applies the bounds in the other order",
        equivalent="for low <= high (clamp's precondition) both orders give the same value",
    ),
    _m(
        "K12-clamp-no-lower-bound",
        "kernel.py",
        "return min_(max_(a, low), high)",
        "return min_(a, high)",
        "precondition",
        ("lemma",),
        "clamp drops its lower bound",
    ),
    _m(
        "K13-require-drops-symbolic-guard",
        "kernel.py",
        "trace.guards.append((cond, code, detail))",
        "pass",
        "precondition",
        ("withdraw-collateral",),
        "every precondition of an action is ignored on symbolic values",
    ),
    _m(
        "K14-divides-always",
        "kernel.py",
        "return mod_floor(a, divisor) == 0",
        "return mod_floor(a, divisor) >= 0",
        "comparison",
        ("trade-buy", "liquidate"),
        "the tick and step checks accept every price and size",
    ),
)

MARGIN = (
    _m(
        "M01-initial-strict",
        "margin.py",
        "return risk.nc >= risk.imr",
        "return risk.nc > risk.imr",
        "threshold",
        ("withdraw-quote", "transfer"),
        "an account exactly at initial margin counts as below it",
    ),
    _m(
        "M02-initial-uses-maintenance",
        "margin.py",
        "return risk.nc >= risk.imr",
        "return risk.nc >= risk.mmr",
        "threshold",
        ("withdraw-quote", "transfer", "trade-buy"),
        "the initial-margin check compares with the maintenance requirement",
    ),
    _m(
        "M03-liquidatable-at-maintenance",
        "margin.py",
        "return k.and_(risk.mmr > 0, risk.nc < risk.mmr)",
        "return k.and_(risk.mmr > 0, risk.nc <= risk.mmr)",
        "threshold",
        ("liquidate",),
        "an account exactly at maintenance can be liquidated",
    ),
    _m(
        "M04-update-ratio-flipped",
        "margin.py",
        "ratio_ok = after.nc * before.mmr >= before.nc * after.mmr",
        "ratio_ok = after.nc * before.mmr <= before.nc * after.mmr",
        "comparison",
        ("trade-buy", "trade-sell"),
        "MRG-4 accepts an update below initial margin that lowers NC/MMR",
    ),
    _m(
        "M05-initial-tier-uses-maintenance",
        "margin.py",
        "initial_weighted = initial_weighted + part * tier.initial_ppm",
        "initial_weighted = initial_weighted + part * tier.maintenance_ppm",
        "threshold",
        ("lemma", "withdraw-quote", "trade-buy"),
        "the initial requirement is computed with the maintenance fractions (no buffer)",
    ),
    _m(
        "M06-mark-ignores-final-price",
        "margin.py",
        "return ledger.price(market.feed) if fixed is None else fixed",
        "return ledger.price(market.feed)",
        "precondition",
        ("withdraw-settled", "settle-expiry-fixed"),
        "a dated market's positions stay valued at the oracle after the final price is fixed",
    ),
    _m(
        "M07-haircut-weight-swapped",
        "margin.py",
        "imr = value - k.mul_div_floor(balance * price, asset.initial_weight_ppm, scale * PPM)",
        "imr = value - k.mul_div_floor(balance * price, asset.maintenance_weight_ppm, scale * PPM)",
        "threshold",
        ("lemma", "withdraw-collateral"),
        "collateral's initial haircut uses the maintenance weight",
    ),
    _m(
        "M08-open-interest-share-inverted",
        "margin.py",
        "excess = k.ite(open_interest >= upper, span, k.clamp(open_interest - lower, 0, span))",
        "excess = k.ite(open_interest >= upper, 0, k.clamp(upper - open_interest, 0, span))",
        "sign",
        ("lemma",),
        "MRG-7's share runs backwards: the initial requirement falls as open interest grows",
    ),
    _m(
        "M09-open-interest-rounds-down",
        "margin.py",
        "return k.mul_div_ceil(scaled, price, scale * PPM * span)",
        "return k.mul_div_floor(scaled, price, scale * PPM * span)",
        "rounding",
        ("lemma",),
        "MRG-7's scaled initial requirement rounds down, below the tiered one",
    ),
)

COLLATERAL = (
    _m(
        "C01-deposit-not-counted",
        "collateral.py",
        "net_deposits=add_to(ledger.net_deposits, action.asset, action.amount),",
        "net_deposits=ledger.net_deposits,",
        "debit",
        ("deposit-quote",),
        "a deposit credits the account but is not counted in net deposits",
    ),
    _m(
        "C02-withdraw-no-debit",
        "collateral.py",
        "updated = with_balance(account, action.asset, balance - action.amount)",
        "updated = with_balance(account, action.asset, balance)",
        "debit",
        ("withdraw-quote",),
        "a withdrawal pays out without debiting the balance",
    ),
    _m(
        "C03-withdraw-no-balance-check",
        "collateral.py",
        "        balance >= action.amount,\n        ErrorCode.INSUFFICIENT_BALANCE,\n"
        '        f"{action.account} holds',
        '        True,\n        ErrorCode.INSUFFICIENT_BALANCE,\n        f"{action.account} holds',
        "precondition",
        ("withdraw-collateral", "withdraw-quote"),
        "a withdrawal need not be covered by the balance",
    ),
    _m(
        "C04-withdraw-no-margin-check",
        "collateral.py",
        "meets_initial(account_risk(ledger, updated)),",
        "True,",
        "precondition",
        ("withdraw-quote", "withdraw-collateral"),
        "a withdrawal may leave the account below initial margin",
    ),
    _m(
        "C05-withdraw-ignores-gate",
        "collateral.py",
        "    _check_gate(ledger)\n    ledger = settle_account(ledger, action.account)",
        "    ledger = settle_account(ledger, action.account)",
        "precondition",
        ("withdraw-quote",),
        "withdrawals are not gated after negative collateral was seen (INS-6)",
    ),
    _m(
        "C06-self-transfer",
        "collateral.py",
        "k.require(action.source != action.destination, ErrorCode.SELF_TRANSFER, action.source)",
        "k.require(True, ErrorCode.SELF_TRANSFER, action.source)",
        "precondition",
        ("transfer-self",),
        "a transfer to oneself is accepted (the destination credit overwrites the source debit)",
    ),
    _m(
        "C07-transfer-checks-destination-margin",
        "collateral.py",
        "meets_initial(account_risk(ledger, new_source)),",
        "meets_initial(account_risk(ledger, ledger.accounts[action.destination])),",
        "comparison",
        ("transfer",),
        "the margin check of a transfer looks at the wrong account",
    ),
    _m(
        "C08-negative-amount",
        "collateral.py",
        "k.require(amount > 0, ErrorCode.NON_POSITIVE_AMOUNT, str(amount))",
        "k.require(amount != 0, ErrorCode.NON_POSITIVE_AMOUNT, str(amount))",
        "sign",
        ("deposit-collateral", "deposit-quote"),
        "negative amounts pass the amount check (a deposit becomes an unchecked withdrawal)",
    ),
    _m(
        "C09-zero-amount",
        "collateral.py",
        "k.require(amount > 0, ErrorCode.NON_POSITIVE_AMOUNT, str(amount))",
        "k.require(amount >= 0, ErrorCode.NON_POSITIVE_AMOUNT, str(amount))",
        "threshold",
        ("deposit-quote",),
        "a zero amount is accepted",
    ),
    _m(
        "C10-no-amount-bound",
        "collateral.py",
        "k.require(amount <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE, str(amount))",
        "k.require(True, ErrorCode.AMOUNT_TOO_LARGE, str(amount))",
        "precondition",
        ("deposit-quote",),
        "deposits are not bounded by MAX_AMOUNT (PAR-1)",
    ),
)

TRADING = (
    _m(
        "T01-fee-rounds-down",
        "trading.py",
        "return k.mul_div_ceil(notional_amount, rate_ppm, PPM)",
        "return k.mul_div_floor(notional_amount, rate_ppm, PPM)",
        "rounding",
        ("lemma", "trade-buy"),
        "fees round down, against the fee pool",
    ),
    _m(
        "T02-taker-fee-dropped",
        "trading.py",
        "after = credit_quote(credit_quote(after, fill.taker, -taker_fee), fill.maker, -maker_fee)",
        "after = credit_quote(after, fill.maker, -maker_fee)",
        "fee",
        ("trade-buy",),
        "the taker's fee is added to the pool but never debited",
    ),
    _m(
        "T03-maker-fee-not-pooled",
        "trading.py",
        "fees = fees + maker_fee + taker_fee",
        "fees = fees + taker_fee",
        "fee",
        ("trade-sell",),
        "the maker's fee is debited but never reaches the fee pool",
    ),
    _m(
        "T04-fee-sum-unchecked",
        "trading.py",
        "fill.maker_fee_ppm + fill.taker_fee_ppm >= 0,",
        "True,",
        "precondition",
        ("trade-buy",),
        "a maker rebate larger than the taker fee is accepted (the pool pays out)",
    ),
    _m(
        "T05-price-band-dropped",
        "trading.py",
        "within_ppm(fill.price, oracle_price, market.price_band_ppm),",
        "True,",
        "precondition",
        ("trade-buy",),
        "fills far from the oracle price are accepted (TRD-3)",
    ),
    _m(
        "T06-taker-side-swapped",
        "trading.py",
        "taker_sign = 1 if fill.taker_side is Side.BUY else -1",
        "taker_sign = -1 if fill.taker_side is Side.BUY else 1",
        "sign",
        ("trade-buy", "trade-sell"),
        "the taker's side is inverted (a buy sells)",
    ),
    _m(
        "T07-taker-quote-sign",
        "trading.py",
        "after = move_position(after, fill.taker, fill.market, taker_sign * fill.size, -taker_sign * amount)",
        "after = move_position(after, fill.taker, fill.market, taker_sign * fill.size, taker_sign * amount)",
        "sign",
        ("trade-buy",),
        "the taker receives the notional instead of paying it",
    ),
    _m(
        "T08-margin-compares-after-with-itself",
        "trading.py",
        "account_risk(settled, settled.accounts[name]), account_risk(after, after.accounts[name])",
        "account_risk(after, after.accounts[name]), account_risk(after, after.accounts[name])",
        "comparison",
        ("trade-buy",),
        "MRG-4 compares the account after the trade with itself (any trade passes)",
    ),
)

ORACLE = (
    _m(
        "O01-replayed-round",
        "oracle.py",
        "k.require(report.round > last_round, ErrorCode.ORACLE_REPLAYED_ROUND, who)",
        "k.require(report.round >= last_round, ErrorCode.ORACLE_REPLAYED_ROUND, who)",
        "threshold",
        ("oracle-update",),
        "a report of the last accepted round is accepted again (replay)",
    ),
    _m(
        "O02-staleness-swapped",
        "oracle.py",
        "k.require(ledger.now - report.timestamp <= oracle.max_age, ErrorCode.ORACLE_STALE_REPORT, who)",
        "k.require(report.timestamp - ledger.now <= oracle.max_age, ErrorCode.ORACLE_STALE_REPORT, who)",
        "comparison",
        ("oracle-update",),
        "the staleness check subtracts the wrong way round (stale reports pass)",
    ),
    _m(
        "O03-quorum-strict",
        "oracle.py",
        "len(update.reports) >= oracle.quorum,",
        "len(update.reports) > oracle.quorum,",
        "threshold",
        ("oracle-update",),
        "an update needs one report more than the quorum",
    ),
    _m(
        "O04-circuit-breaker-dropped",
        "oracle.py",
        "within_ppm(price, previous, oracle.max_deviation_ppm),",
        "True,",
        "precondition",
        ("oracle-update",),
        "the per-update deviation bound (circuit breaker, ORA-9) is not enforced",
    ),
    _m(
        "O05-band-comparison-swapped",
        "oracle.py",
        "return k.abs_(value - reference) * PPM <= reference * band_ppm",
        "return k.abs_(value - reference) * PPM >= reference * band_ppm",
        "comparison",
        ("oracle-update", "trade-buy"),
        "within_ppm accepts exactly the prices outside the band",
    ),
    _m(
        "O06-upper-median",
        "oracle.py",
        "return ordered[k.div_floor(len(ordered) - 1, 2)]",
        "return ordered[k.div_floor(len(ordered), 2)]",
        "threshold",
        ("lemma", "oracle-update"),
        "the upper median instead of the lower one (differs for an even number of reports)",
    ),
    _m(
        "O07-interval-breaker-dropped",
        "oracle.py",
        "within_ppm(price, reference, oracle.max_interval_move_ppm),",
        "True,",
        "precondition",
        ("oracle-update", "lemma"),
        "the per-interval bound (ORA-10) is not enforced: a quorum staircases the price at one clock value",
    ),
    _m(
        "O08-interval-rolls-every-update",
        "oracle.py",
        "rolled = feed.reference_at < start",
        "rolled = feed.reference_at <= start",
        "threshold",
        ("lemma", "oracle-update"),
        "the breaker's reference moves with every update in an interval, so each update may move it again",
    ),
    _m(
        "O09-round-step-unbounded",
        "oracle.py",
        "k.require(report.round - last_round <= oracle.max_round_step, ErrorCode.ORACLE_ROUND_TOO_FAR, who)",
        "k.require(report.round - last_round >= 1, ErrorCode.ORACLE_ROUND_TOO_FAR, who)",
        "precondition",
        ("oracle-update",),
        "a round far ahead of the last is accepted, so rounds can be exhausted (ORA-4)",
    ),
    _m(
        "O10-deployment-not-checked",
        "oracle.py",
        "report.deployment == params.deployment_id,",
        "True,",
        "precondition",
        ("oracle-update",),
        "a report signed for another deployment of the same reporters is accepted (ORA-2)",
        missing="a world with reports signed for another deployment: the symbolic reports carry the set's "
        "own id (strings are concrete), so the check is constant there; tests/test_oracle_attacks.py and "
        "the vector boundary/report-deployment catch it",
    ),
)

FUNDING = (
    _m(
        "F01-funding-owed-rounds-down",
        "positions.py",
        "return k.mul_div_ceil(position.size, state.funding_index - position.funding_index, PPM * scale)",
        "return k.mul_div_floor(position.size, state.funding_index - position.funding_index, PPM * scale)",
        "rounding",
        ("withdraw-quote", "trade-buy"),
        "funding owed rounds in the account's favour, so the pool pays out more than it collects",
    ),
    _m(
        "F02-funding-owed-sign",
        "positions.py",
        "state.funding_index - position.funding_index, PPM * scale",
        "position.funding_index - state.funding_index, PPM * scale",
        "sign",
        ("withdraw-quote", "trade-buy"),
        "longs receive funding they owe",
    ),
    _m(
        "F03-settle-credits-owed",
        "positions.py",
        "balance = balance - owed",
        "balance = balance + owed",
        "sign",
        ("withdraw-quote",),
        "settling funding credits the account what it owes",
    ),
    _m(
        "F04-settle-pool-not-credited",
        "positions.py",
        "markets = markets.set(market_id, replace(state, pool=state.pool + owed))",
        "markets = markets.set(market_id, replace(state, pool=state.pool))",
        "debit",
        ("withdraw-quote",),
        "funding is debited from the account but never reaches the market pool",
    ),
    _m(
        "F05-snapshot-not-advanced",
        "positions.py",
        "replace(position, funding_index=state.funding_index, loss_index=state.loss_index)",
        "replace(position, funding_index=position.funding_index, loss_index=state.loss_index)",
        "precondition",
        ("withdraw-quote",),
        "the funding snapshot is not advanced, so funding is charged again at the next touch",
    ),
    _m(
        "F06-premium-unclamped",
        "funding.py",
        "sample = k.clamp(action.premium_ppm, -bound, bound)",
        "sample = action.premium_ppm",
        "precondition",
        ("premium-sample",),
        "premium samples are not clamped (FND-1)",
    ),
    _m(
        "F07-rate-unclamped",
        "funding.py",
        "return k.clamp(average + market.funding_interest_ppm, -bound, bound)",
        "return average + market.funding_interest_ppm",
        "precondition",
        ("apply-funding",),
        "the funding rate is not clamped (FND-2)",
    ),
    _m(
        "F08-average-divides-by-zero",
        "funding.py",
        "average = k.div_floor(state.premium_sum, k.max_(state.premium_count, 1))",
        "average = k.div_floor(state.premium_sum, state.premium_count)",
        "precondition",
        ("apply-funding",),
        "the average premium divides by a sample count that may be zero",
    ),
    _m(
        "F09-rate-clamp-per-interval",
        "funding.py",
        "return k.mul_div_floor(per_period, market.funding_interval, PPM * FUNDING_CLAMP_PERIOD)",
        "return k.mul_div_floor(per_period, 1, PPM)",
        "threshold",
        ("apply-funding",),
        "the rate clamp bounds each interval, not 8 hours: shorter intervals let more through (FND-2)",
    ),
)

POSITIONS = (
    _m(
        "P01-open-interest-not-reduced",
        "positions.py",
        "interest = state.open_interest + k.max_(new_size, 0) - k.max_(old.size, 0)",
        "interest = state.open_interest + k.max_(new_size, 0)",
        "debit",
        ("trade-buy",),
        "open interest adds the new long size without removing the old one",
    ),
    _m(
        "P02-close-drops-quote",
        "positions.py",
        "balance = account.balance(quote_asset) + k.ite(closed, new_quote, 0)",
        "balance = account.balance(quote_asset)",
        "debit",
        ("trade-buy",),
        "a closing position's quote is not realised into the balance (the PnL vanishes)",
    ),
    _m(
        "P03-sweep-nonpositive",
        "positions.py",
        "swept = k.ite(state.open_interest == 0, state.pool, 0)",
        "swept = k.ite(state.open_interest <= 0, state.pool, 0)",
        "comparison",
        ("trade-buy",),
        "the pool sweep tests open interest <= 0",
        equivalent=(
            "open interest is the sum of long sizes (INV-6, an induction hypothesis), never "
            "negative, so <= 0 means == 0"
        ),
    ),
    _m(
        "P04-sweep-not-credited",
        "positions.py",
        "fund = ledger.insurance_fund.set(quote_asset, ledger.insurance_fund[quote_asset] + swept)",
        "fund = ledger.insurance_fund.set(quote_asset, ledger.insurance_fund[quote_asset])",
        "fund",
        ("trade-buy",),
        "a closed market's pool is emptied but the insurance fund is not credited",
    ),
    _m(
        "P05-loss-owed-signed",
        "positions.py",
        "return k.mul_div_ceil(k.abs_(position.size), state.loss_index - position.loss_index, LOSS_SCALE)",
        "return k.mul_div_ceil(position.size, state.loss_index - position.loss_index, LOSS_SCALE)",
        "sign",
        ("withdraw-quote",),
        "shorts receive socialised losses instead of paying them",
    ),
    _m(
        "P06-position-limit-dropped",
        "positions.py",
        'k.require(size <= params.max_position, ErrorCode.POSITION_LIMIT_EXCEEDED, f"{name} in {market_id}")',
        'k.require(True, ErrorCode.POSITION_LIMIT_EXCEEDED, f"{name} in {market_id}")',
        "precondition",
        ("trade-buy",),
        "resulting positions are not bounded by the position limit (TRD-6)",
    ),
)

LIQUIDATION = (
    _m(
        "L01-healthy-account-liquidated",
        "liquidation.py",
        "k.require(is_liquidatable(risk), ErrorCode.NOT_LIQUIDATABLE, name)",
        "k.require(True, ErrorCode.NOT_LIQUIDATABLE, name)",
        "precondition",
        ("liquidate",),
        "an account above maintenance can be liquidated (and charged the fee)",
    ),
    _m(
        "L02-liquidation-flips-position",
        "liquidation.py",
        "action.size <= k.abs_(position.size),",
        "True,",
        "precondition",
        ("liquidate",),
        "a liquidation fill may be larger than the position (LIQ-7)",
    ),
    _m(
        "L03-fillable-price-dropped",
        "liquidation.py",
        "fillable_price_allows(settled, name, action.market, action.price, risk.nc, risk.mmr),",
        "True,",
        "precondition",
        ("liquidate",),
        "fills worse than the fillable price are accepted (LIQ-3)",
    ),
    _m(
        "L04-surplus-strict",
        "liquidation.py",
        "return k.ite(surplus <= 0, surplus, fee)",
        "return k.ite(surplus < 0, surplus, fee)",
        "threshold",
        ("liquidate",),
        "the fund-delta branch tests surplus < 0",
        equivalent="at surplus == 0 the fee is min(cap, 0) == 0 == surplus (the cap is never negative)",
    ),
    _m(
        "L05-liquidation-fee-uncapped",
        "liquidation.py",
        "fee = k.min_(k.mul_div_floor(k.abs_(received), max_fee_ppm, PPM), surplus)",
        "fee = surplus",
        "fee",
        ("lemma", "liquidate"),
        "the fund takes the whole surplus, not at most max_liquidation_fee_ppm of the quote",
    ),
    _m(
        "L06-liquidation-fee-max",
        "liquidation.py",
        "fee = k.min_(k.mul_div_floor(k.abs_(received), max_fee_ppm, PPM), surplus)",
        "fee = k.max_(k.mul_div_floor(k.abs_(received), max_fee_ppm, PPM), surplus)",
        "comparison",
        ("liquidate",),
        "the liquidation fee is the larger of cap and surplus",
    ),
    _m(
        "L07-fund-payment-not-debited",
        "liquidation.py",
        "insurance_fund=after.insurance_fund.set(quote_asset, fund + k.max_(fund_delta, 0) - fund_paid),",
        "insurance_fund=after.insurance_fund.set(quote_asset, fund + k.max_(fund_delta, 0)),",
        "fund",
        ("liquidate",),
        "the fund covers a fill below bankruptcy without being debited",
    ),
    _m(
        "L08-fund-overdrawn",
        "liquidation.py",
        "fund_paid = k.min_(k.max_(-fund_delta, 0), fund)",
        "fund_paid = k.max_(-fund_delta, 0)",
        "fund",
        ("liquidate",),
        "the fund pays more than it holds",
    ),
    _m(
        "L09-counterparty-fee-dropped",
        "liquidation.py",
        "after = credit_quote(after, action.counterparty, -maker_fee)",
        "after = after",
        "fee",
        ("liquidate",),
        "the counterparty's fee reaches the fee pool without being debited",
    ),
    _m(
        "L10-bankruptcy-rounds-down",
        "liquidation.py",
        "return k.div_floor(nc * released_mmr, total_mmr)",
        "return k.div_ceil(nc * released_mmr, total_mmr)",
        "rounding",
        ("lemma", "liquidate", "deleverage"),
        "the bankruptcy quote rounds against the account",
    ),
    _m(
        "L11-block-notional-unlimited",
        "liquidation.py",
        "usage.notional + amount <= params.liquidation.max_notional_per_block,",
        "True,",
        "precondition",
        ("liquidate",),
        "the per-block liquidation notional limit is not enforced (LIQ-5)",
    ),
    _m(
        "L12-no-withdrawal-gate",
        "liquidation.py",
        "return replace(ledger, gate_until=k.ite(nc < 0, gate, ledger.gate_until))",
        "return ledger",
        "precondition",
        ("report-negative", "liquidate"),
        "seeing negative collateral does not gate withdrawals (INS-6)",
    ),
    _m(
        "L13-counterparty-margin-unchecked",
        "liquidation.py",
        "            account_risk(settled, settled.accounts[action.counterparty]),",
        "            account_risk(after, after.accounts[action.counterparty]),",
        "comparison",
        ("liquidate",),
        "the counterparty's MRG-4 check compares the account after the fill with itself",
    ),
    _m(
        "L14-socialised-loss-rounds-down",
        "liquidation.py",
        "increase = k.mul_div_ceil(shortfall, LOSS_SCALE, k.max_(total_size, 1))",
        "increase = k.mul_div_floor(shortfall, LOSS_SCALE, k.max_(total_size, 1))",
        "rounding",
        ("liquidate",),
        "the socialised loss index rounds down, so positions repay less than the pool paid",
        params="socialise",
    ),
    _m(
        "L15-socialised-pool-not-debited",
        "liquidation.py",
        "updated = replace(state, pool=state.pool - shortfall, loss_index=state.loss_index + increase)",
        "updated = replace(state, pool=state.pool, loss_index=state.loss_index + increase)",
        "debit",
        ("liquidate",),
        "the shortfall is charged to positions but the pool never pays it",
        params="socialise",
    ),
)

DELEVERAGING = (
    _m(
        "D01-bankrupt-at-zero",
        "deleveraging.py",
        'k.require(risk.nc < 0, ErrorCode.NOT_BANKRUPT, f"{action.account} NC {risk.nc}")',
        'k.require(risk.nc <= 0, ErrorCode.NOT_BANKRUPT, f"{action.account} NC {risk.nc}")',
        "threshold",
        ("deleverage",),
        "an account with NC == 0 counts as bankrupt",
    ),
    _m(
        "D02-fund-could-cover",
        "deleveraging.py",
        'k.require(fund < -risk.nc, ErrorCode.FUND_CAN_COVER, f"fund {fund} covers {-risk.nc}")',
        'k.require(True, ErrorCode.FUND_CAN_COVER, f"fund {fund} covers {-risk.nc}")',
        "precondition",
        ("deleverage",),
        "accounts are deleveraged although the insurance fund could cover the deficit (ADL-1)",
    ),
    _m(
        "D03-counterparty-quote-sign",
        "deleveraging.py",
        "after = move_position(after, name, action.market, -delta, -quote)",
        "after = move_position(after, name, action.market, -delta, quote)",
        "sign",
        ("deleverage",),
        "the counterparty receives the bankruptcy quote instead of paying it",
    ),
    _m(
        "D04-offset-grows-position",
        "deleveraging.py",
        "delta = -side * taken",
        "delta = side * taken",
        "sign",
        ("deleverage",),
        "the offset grows the bankrupt position instead of closing it",
    ),
    _m(
        "D05-counterparty-same-side",
        "deleveraging.py",
        "k.require(size * side < 0, ErrorCode.ADL_BAD_COUNTERPARTY, name)",
        "k.require(size * side <= 0, ErrorCode.ADL_BAD_COUNTERPARTY, name)",
        "threshold",
        ("deleverage",),
        "a counterparty with no position passes the side check",
    ),
    _m(
        "D06-bankruptcy-with-collateral-mmr",
        "deleveraging.py",
        "requirement = k.ite(taken == 0, 1, positions_mmr(settled, action.account))",
        "requirement = k.ite(taken == 0, 1, bankrupt_risk.mmr)",
        "threshold",
        ("deleverage",),
        "the bankruptcy quote of ADL-3 uses the whole MMR, collateral haircuts included",
    ),
    _m(
        "D07-list-skips-top-ranked",
        "deleveraging.py",
        "listed == side_total,",
        "listed <= side_total,",
        "precondition",
        ("deleverage",),
        "a list that leaves out the top-ranked holder of the opposite side is accepted (ADL-2)",
    ),
    _m(
        "D08-skipped-offset-kept",
        "deleveraging.py",
        "ledger = choose_ledger(made, after, ledger)",
        "ledger = choose_ledger(remaining != 0, after, ledger)",
        "effect",
        ("deleverage",),
        "an offset that leaves the counterparty invalid is applied instead of skipped (ADL-3)",
    ),
)

INSURANCE = (
    _m(
        "I01-cover-overdraws-fund",
        "insurance.py",
        "paid = k.min_(fund, -nc)",
        "paid = -nc",
        "fund",
        ("cover-bad-debt",),
        "covering bad debt pays the whole deficit, more than the fund holds",
    ),
    _m(
        "I02-cover-not-debited",
        "insurance.py",
        "after = _with_fund(credit_quote(ledger, action.account, paid), fund - paid)",
        "after = _with_fund(credit_quote(ledger, action.account, paid), fund)",
        "fund",
        ("cover-bad-debt",),
        "the fund tops up the account without being debited",
    ),
    _m(
        "I03-fund-insurance-unbacked",
        "insurance.py",
        "k.require(balance >= action.amount, ErrorCode.INSUFFICIENT_BALANCE, "
        'f"{action.account} holds {balance}")',
        'k.require(True, ErrorCode.INSUFFICIENT_BALANCE, f"{action.account} holds {balance}")',
        "precondition",
        ("fund-insurance",),
        "an account pays into the fund more quote than it holds (borrowing against collateral)",
    ),
    _m(
        "I04-fund-not-credited",
        "insurance.py",
        "return _with_fund(after, _fund(after) + action.amount)",
        "return _with_fund(after, _fund(after))",
        "fund",
        ("fund-insurance",),
        "a payment into the fund is debited but never credited",
    ),
    _m(
        "I05-cover-with-positions",
        "insurance.py",
        "k.require(holds_no_position(account), ErrorCode.HAS_POSITIONS",
        "k.require(True, ErrorCode.HAS_POSITIONS",
        "precondition",
        ("cover-bad-debt-positions",),
        "the fund covers an account that still holds positions (INS-4)",
    ),
    _m(
        "I06-cover-counts-entries",
        "insurance.py",
        "k.require(holds_no_position(account), ErrorCode.HAS_POSITIONS",
        "k.require(len(account.positions) == 0, ErrorCode.HAS_POSITIONS",
        "precondition",
        ("cover-bad-debt-positions",),
        "an account whose only position entries are of size zero is refused with HAS_POSITIONS (INS-4)",
    ),
)

EXPIRY = (
    _m(
        "E01-unbalanced-settlement",
        "expiry.py",
        'k.require(net == 0, ErrorCode.EXPIRY_UNBALANCED, f"listed positions sum to {net}")',
        'k.require(True, ErrorCode.EXPIRY_UNBALANCED, f"listed positions sum to {net}")',
        "precondition",
        ("settle-expiry",),
        "a settlement batch may close more long than short",
    ),
    _m(
        "E02-pool-not-debited",
        "expiry.py",
        "replace(state, pool=state.pool - value)",
        "replace(state, pool=state.pool)",
        "debit",
        ("settle-expiry",),
        "the settled value is paid to the account but not taken from the market pool",
    ),
    _m(
        "E03-expiry-fund-overdrawn",
        "expiry.py",
        "paid = k.min_(deficit, fund)",
        "paid = deficit",
        "fund",
        ("settle-expiry",),
        "in a socialise market the fund pays a deficit larger than it holds",
        params="socialise",
    ),
    _m(
        "E04-settlement-rounds-up",
        "expiry.py",
        "ledger = _settle_one(ledger, action.market, name, notional(size, final, scale))",
        "ledger = _settle_one(ledger, action.market, name, k.mul_div_ceil(size, final, scale))",
        "rounding",
        ("settle-expiry",),
        "settled values round in the accounts' favour, so the pool pays out more than it holds",
    ),
)

TRANSITION = (
    _m(
        "X01-clock-goes-back",
        "transition.py",
        'k.require(action.now >= ledger.now, ErrorCode.CLOCK_NOT_MONOTONIC, f"{action.now} < {ledger.now}")',
        'k.require(True, ErrorCode.CLOCK_NOT_MONOTONIC, f"{action.now} < {ledger.now}")',
        "precondition",
        ("advance-time",),
        "the clock may go back (CLK-1)",
    ),
)

# Wrong results that keep every invariant: only the effect obligations
# (clearspec_proofs.effects) tell them apart from the model.
EFFECT = (
    _m(
        "F01-transfer-settles-destination",
        "collateral.py",
        "    ledger = settle_account(ledger, action.source)\n",
        "    ledger = settle_account(settle_account(ledger, action.source), action.destination)\n",
        "effect",
        ("transfer",),
        "a transfer also settles the destination, which COL-5 leaves unsettled",
    ),
    _m(
        "F02-fees-charged-to-the-wrong-party",
        "trading.py",
        "after = credit_quote(credit_quote(after, fill.taker, -taker_fee), fill.maker, -maker_fee)",
        "after = credit_quote(credit_quote(after, fill.taker, -maker_fee), fill.maker, -taker_fee)",
        "effect",
        ("trade-buy",),
        "the maker pays the taker's fee and the taker the maker's: the pool gets the same sum",
    ),
    _m(
        "F03-funding-interval-anchored",
        "funding.py",
        "        last_funding_at=ledger.now,",
        "        last_funding_at=due,",
        "effect",
        ("apply-funding",),
        "the funding interval closes when it was due, not when funding was applied (FND-2)",
    ),
    _m(
        "F04-price-time-from-the-report",
        "oracle.py",
        "OraclePrice(price, update.reports[0].round, ledger.now, reference, start)",
        "OraclePrice(price, update.reports[0].round, update.reports[0].timestamp, reference, start)",
        "effect",
        ("oracle-update",),
        "an accepted price is stamped with a report's time, not the ledger's clock (ORA-7)",
    ),
)

COLLATERAL_LIQUIDATION = (
    _m(
        "Q01-ratio-rule-dropped",
        "collateral_liquidation.py",
        "k.or_(held - action.seize == 0, ratio_kept(risk, account_risk(ledger, seized))),",
        "k.or_(held - action.seize >= 0, ratio_kept(risk, account_risk(ledger, seized))),",
        "precondition",
        ("liquidate-collateral",),
        "a partial collateral liquidation may lower the account's NC/MMR ratio (CLQ-5)",
    ),
    _m(
        "Q02-bonus-rounds-up",
        "collateral_liquidation.py",
        "return k.mul_div_floor(repay * (PPM + bonus_ppm), scale, price * PPM)",
        "return k.mul_div_ceil(repay * (PPM + bonus_ppm), scale, price * PPM)",
        "rounding",
        ("liquidate-collateral",),
        "the collateral a repayment buys rounds up, in the liquidator's favour (CLQ-4)",
    ),
    _m(
        "Q03-protocol-fee-rounds-down",
        "collateral_liquidation.py",
        "return k.mul_div_ceil(bonus, fee_ppm, scale * PPM)",
        "return k.mul_div_floor(bonus, fee_ppm, scale * PPM)",
        "rounding",
        ("liquidate-collateral",),
        "the fund's share of the bonus rounds down, against the fund (CLQ-6)",
    ),
    _m(
        "Q04-close-factor-ignores-threshold",
        "collateral_liquidation.py",
        "deep = weighted * PPM <= liq.close_factor_hf_threshold_ppm * debt",
        "deep = weighted * PPM < liq.close_factor_hf_threshold_ppm * debt",
        "threshold",
        ("liquidate-collateral",),
        "a health factor exactly at the threshold keeps the 50 % close factor (CLQ-3)",
    ),
)

MUTANTS: tuple[Mutant, ...] = (
    (KERNEL + MARGIN + COLLATERAL + TRADING + ORACLE + FUNDING + POSITIONS + LIQUIDATION + DELEVERAGING)
    + COLLATERAL_LIQUIDATION
    + INSURANCE
    + EXPIRY
    + TRANSITION
    + EFFECT
)

# Not a mutant: the model unchanged. The harness must not kill it (a control).
IDENTITY = Mutant(
    "IDENTITY",
    "kernel.py",
    "return ite(a <= b, a, b)",
    "return ite(a <= b, a, b)",
    "identity",
    ("deposit-quote",),
    "no change (control)",
    equivalent="the model unchanged: the control every kill is measured against",
)


def by_id(ident: str) -> Mutant:
    """The catalogue entry ``ident`` (or the identity control); KeyError if none."""
    for mutant in (*MUTANTS, IDENTITY):
        if mutant.id == ident:
            return mutant
    raise KeyError(ident)
