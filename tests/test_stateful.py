"""Stateful test of the reference model: long random action sequences, every check after every step.

A Hypothesis ``RuleBasedStateMachine`` drives :func:`clearspec.transition.step`
from :func:`clearspec_tools.examples.example_genesis` with deposits, withdrawals,
transfers (COL-3..COL-5), clock moves (CLK-1), oracle rounds, honest, on the
boundaries and forged (ORA-1..ORA-9), and trade batches, valid and broken
(TRD-1..TRD-8, MRG-4, MRG-5). After every action it checks

1. the global invariants, both the model's own
   (:func:`clearspec.invariants.all_global_invariants`) and an independent
   recomputation here: conservation of every asset against the deposits and
   withdrawals this test made (INV-1), zero-sum positions (INV-2), no negative
   non-quote balance, pools not negative (INV-3);
2. atomicity (STA-2): a rejected action returns the very ledger object it was
   given, and that ledger's encoding is unchanged;
3. margin safety: an accepted withdrawal or transfer leaves the account at or
   above initial margin (MRG-5), an accepted trade leaves every account it
   touched satisfying MRG-4 and within the position limits (TRD-6);
4. agreement with :class:`Reference`, a small independent re-statement of the
   rules from ``spec/`` (the order of checks of errors.md, the formulas of
   margin.md) in plain ints and dicts, without the kernel: the same verdict
   (accepted, or the same error code) for every action, and after every step
   the same balances, positions, pools, market state, prices and clock, and the
   same NC/IMR/MMR for every account.

Actions built to break one rule must be rejected with the one code that rule
names (see ``tests/strategies.py``); the ``test_each_*`` tests run every such
kind from a fixed state, so each is covered whatever the random run draws.
Funding, liquidation, deleveraging, the insurance fund and expiry settlement
are not driven here.

The CI profile is deterministic (derandomized, no example database): 200
sequences of 25 steps, about 4,400 steps, some 15 s on the 2-core machine; the
step count is asserted (:data:`MIN_STEPS`). ``CLEARSPEC_LONG=1`` runs a larger,
randomized search instead (``CLEARSPEC_LONG_EXAMPLES`` sequences of 60 steps,
1,000 by default). Run with ``-s`` to see the step count, the duration and the
tally of verdicts.
"""

from __future__ import annotations

import copy
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from clearspec import invariants
from clearspec import kernel as k
from clearspec.actions import (
    Action,
    AdvanceTime,
    Deposit,
    Fill,
    OracleUpdate,
    PriceReport,
    SettleTrades,
    Side,
    Transfer,
    Withdraw,
)
from clearspec.errors import ErrorCode
from clearspec.margin import Risk, account_risk, is_liquidatable, meets_initial, update_allowed
from clearspec.params import MAX_AMOUNT, PPM, MarketParams
from clearspec.render import describe, ledger_json
from clearspec.state import Ledger
from clearspec.transition import Outcome, step
from clearspec_tools.examples import USD, example_genesis, signed_update
from tests.isolated import run_isolated
from tests.strategies import (
    ASSETS,
    COLLATERAL_DEFECTS,
    DATED,
    EDGE_ROUNDS,
    FEEDS,
    FILL_DEFECTS,
    FORGERIES,
    FUNDED,
    GHOSTS,
    KEYS,
    MARKETS,
    ORACLE,
    PARAMS,
    POOL,
    QUOTE,
    REPORT_FORGERIES,
    TRADE_DEFECTS,
    UNKNOWN_ASSET,
    OracleContext,
    amounts_against,
    bad_amounts,
    band_prices,
    ceil_div,
    defective_fills,
    deposit_amounts,
    edge_updates,
    feed_of_asset,
    forged_updates,
    honest_updates,
    scale_of,
    sized_for,
    valid_fees,
    valid_fills,
)

LONG = os.environ.get("CLEARSPEC_LONG", "0") == "1"
MIN_STEPS = 2_000

CI_SETTINGS = settings(
    max_examples=200,
    stateful_step_count=25,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
LONG_SETTINGS = settings(
    CI_SETTINGS,
    max_examples=int(os.environ.get("CLEARSPEC_LONG_EXAMPLES", "1000")),
    stateful_step_count=60,
    derandomize=False,
)


# --- an independent re-statement of the rules ----------------------------------------


class Rejected(Exception):
    """The reference refuses an action with ``code``."""

    def __init__(self, code: ErrorCode) -> None:
        super().__init__(code.value)
        self.code = code


def need(condition: bool, code: ErrorCode) -> None:
    """Refuse with ``code`` unless ``condition`` holds."""
    if not condition:
        raise Rejected(code)


PUBLIC_KEYS = {name: key.public_key() for name, key in KEYS}


def report_signed(public: Ed25519PublicKey, r: PriceReport) -> bool:
    """ORA-2 as the spec words it: the domain tag, the format version 2, the
    deployment and the feed, then decimals, price, timestamp and round in base
    10, newline-separated; S below the group order L."""
    message = b"\n".join(
        [
            b"clearspec/oracle-report",
            b"2",
            r.deployment.encode(),
            r.feed.encode(),
            *(str(n).encode() for n in (r.decimals, r.price, r.timestamp, r.round)),
        ]
    )
    sig = r.signature
    if (
        len(sig) != 64
        or int.from_bytes(sig[32:], "little") >= 2**252 + 27742317777372353535851937790883648493
    ):
        return False
    try:
        public.verify(sig, message)
    except InvalidSignature:
        return False
    return True


def allowed(before: tuple[int, int, int], after: tuple[int, int, int]) -> bool:
    """MRG-4 on (NC, IMR, MMR) triples, as the docstring states it."""
    nc0, _, mmr0 = before
    nc1, imr1, mmr1 = after
    if nc1 >= imr1:
        return True
    if mmr1 > mmr0:
        return False
    if mmr0 == 0 or mmr1 == 0:
        return mmr0 == 0 and mmr1 == 0 and nc1 > nc0
    return nc1 * mmr0 >= nc0 * mmr1


@dataclass
class RefAccount:
    balances: dict[str, int] = field(default_factory=dict)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Reference:
    """The ledger as plain data, with the rules written out again."""

    now: int
    # feed -> (price, round, updated_at, reference, reference_at)
    prices: dict[str, tuple[int, int, int, int, int]]
    accounts: dict[str, RefAccount] = field(default_factory=dict)
    fee_pool: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ASSETS, 0))
    insurance: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ASSETS, 0))
    net_deposits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ASSETS, 0))
    gate_until: int = 0  # INS-6; nothing this machine does moves it

    @staticmethod
    def of(ledger: Ledger) -> Reference:
        prices = {
            f: (p.price, p.round, p.updated_at, p.reference, p.reference_at) for f, p in ledger.prices.items()
        }
        assert not ledger.accounts
        return Reference(ledger.now, prices)

    def price(self, feed: str) -> int:
        return self.prices[feed][0]

    def balance(self, name: str, asset: str) -> int:
        account = self.accounts.get(name)
        return 0 if account is None else account.balances.get(asset, 0)

    def position(self, name: str, market: str) -> int:
        account = self.accounts.get(name)
        return 0 if account is None else account.positions.get(market, (0, 0))[0]

    def live(self, market: MarketParams) -> bool:
        return market.expiry is None or self.now < market.expiry

    def risk(self, name: str) -> tuple[int, int, int]:
        """MRG-1/MRG-2: (NC, IMR, MMR). A collateral balance adds its value and, as
        requirements, its value minus its weighted value (rounded down); a position
        adds its value and its tiered requirements (rounded up)."""
        account = self.accounts[name]
        nc = imr = mmr = 0
        for asset, balance in account.balances.items():
            if asset == QUOTE:
                nc += balance
                continue
            params = PARAMS.asset_by_id[asset]
            feed = feed_of_asset(asset)
            exact, scale = balance * self.price(feed), scale_of(feed)
            value = exact // scale
            nc += value
            imr += value - exact * params.initial_weight_ppm // (scale * PPM)
            mmr += value - exact * params.maintenance_weight_ppm // (scale * PPM)
        for market_id, (size, quote) in account.positions.items():
            market = PARAMS.market_by_id[market_id]
            price, scale = self.price(market.feed), scale_of(market.feed)
            nc += size * price // scale + quote
            lower = initial = maintenance = 0
            for tier in market.tiers:
                upper = abs(size) if tier.up_to_size is None else min(abs(size), tier.up_to_size)
                part = max(upper - lower, 0)
                initial += part * tier.initial_ppm
                maintenance += part * tier.maintenance_ppm
                lower = tier.up_to_size if tier.up_to_size is not None else lower
            imr += ceil_div(initial * price, scale * PPM)
            mmr += ceil_div(maintenance * price, scale * PPM)
        return nc, imr, mmr

    def predict(self, action: Action) -> tuple[ErrorCode | None, Reference]:
        """The verdict on ``action`` and the state after it (``self`` if rejected)."""
        after = copy.deepcopy(self)
        try:
            after._apply(action)
        except Rejected as rejection:
            return rejection.code, self
        return None, after

    def _apply(self, action: Action) -> None:
        match action:
            case Deposit(name, asset, amount):
                self._amount(asset, amount)
                account = self.accounts.setdefault(name, RefAccount())
                account.balances[asset] = account.balances.get(asset, 0) + amount
                self.net_deposits[asset] += amount
            case Withdraw(name, asset, amount):
                need(name in self.accounts, ErrorCode.UNKNOWN_ACCOUNT)
                self._amount(asset, amount)
                self._debit(name, asset, amount)
                self.net_deposits[asset] -= amount
            case Transfer(source, destination, asset, amount):
                need(source in self.accounts, ErrorCode.UNKNOWN_ACCOUNT)
                need(destination in self.accounts, ErrorCode.UNKNOWN_ACCOUNT)
                need(source != destination, ErrorCode.SELF_TRANSFER)
                self._amount(asset, amount)
                self._debit(source, asset, amount)
                target = self.accounts[destination]
                target.balances[asset] = target.balances.get(asset, 0) + amount
            case AdvanceTime(now):
                need(now >= self.now, ErrorCode.CLOCK_NOT_MONOTONIC)
                self.now = now
            case OracleUpdate():
                self._oracle(action)
            case SettleTrades():
                self._settle(action)

    @staticmethod
    def _amount(asset: str, amount: int) -> None:
        need(asset in ASSETS, ErrorCode.UNKNOWN_ASSET)
        need(amount > 0, ErrorCode.NON_POSITIVE_AMOUNT)
        need(amount <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE)

    def _debit(self, name: str, asset: str, amount: int) -> None:
        need(self.now >= self.gate_until, ErrorCode.WITHDRAWALS_GATED)
        account = self.accounts[name]
        need(account.balances.get(asset, 0) >= amount, ErrorCode.INSUFFICIENT_BALANCE)
        account.balances[asset] = account.balances.get(asset, 0) - amount
        nc, imr, _ = self.risk(name)
        need(nc >= imr, ErrorCode.MARGIN_INSUFFICIENT)

    def _oracle(self, update: OracleUpdate) -> None:
        need(update.feed in FEEDS, ErrorCode.UNKNOWN_FEED)
        need(len(update.reports) > 0, ErrorCode.ORACLE_NO_REPORTS)
        previous, last_round, _, reference, reference_at = self.prices[update.feed]
        seen: set[str] = set()
        for r in update.reports:
            need(r.feed == update.feed, ErrorCode.ORACLE_FEED_MISMATCH)
            public = PUBLIC_KEYS.get(r.reporter)
            need(public is not None, ErrorCode.ORACLE_UNKNOWN_REPORTER)
            assert public is not None
            need(len(r.signature) > 0, ErrorCode.ORACLE_UNSIGNED_REPORT)
            need(report_signed(public, r), ErrorCode.ORACLE_BAD_SIGNATURE)
            need(r.deployment == PARAMS.deployment_id, ErrorCode.ORACLE_WRONG_DEPLOYMENT)
            need(r.decimals == PARAMS.feed_by_id[update.feed].price_decimals, ErrorCode.ORACLE_WRONG_DECIMALS)
            need(r.reporter not in seen, ErrorCode.ORACLE_DUPLICATE_REPORTER)
            need(r.price > 0, ErrorCode.ORACLE_NON_POSITIVE_PRICE)
            need(r.price <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE)
            need(r.round > last_round, ErrorCode.ORACLE_REPLAYED_ROUND)
            need(r.round <= last_round + ORACLE.max_round_step, ErrorCode.ORACLE_ROUND_TOO_FAR)
            need(r.round == update.reports[0].round, ErrorCode.ORACLE_ROUND_MISMATCH)
            need(r.timestamp <= self.now + ORACLE.max_future_skew, ErrorCode.ORACLE_FUTURE_REPORT)
            need(self.now - r.timestamp <= ORACLE.max_age, ErrorCode.ORACLE_STALE_REPORT)
            seen.add(r.reporter)
        need(len(update.reports) >= ORACLE.quorum, ErrorCode.ORACLE_QUORUM_NOT_MET)
        median = sorted(r.price for r in update.reports)[(len(update.reports) - 1) // 2]
        for r in update.reports:
            need(abs(r.price - median) * PPM <= median * ORACLE.report_band_ppm, ErrorCode.ORACLE_OUT_OF_BAND)
        need(
            abs(median - previous) * PPM <= previous * ORACLE.max_deviation_ppm,
            ErrorCode.ORACLE_CIRCUIT_BREAKER,
        )
        # ORA-10: the interval holding now; a new one starts from the last price.
        start = self.now // ORACLE.breaker_interval * ORACLE.breaker_interval
        if reference_at < start:
            reference, reference_at = previous, start
        need(
            abs(median - reference) * PPM <= reference * ORACLE.max_interval_move_ppm,
            ErrorCode.ORACLE_INTERVAL_BREAKER,
        )
        self.prices[update.feed] = (median, update.reports[0].round, self.now, reference, reference_at)

    def _check_fill(self, f: Fill) -> MarketParams:
        need(f.market in MARKETS, ErrorCode.UNKNOWN_MARKET)
        market = PARAMS.market_by_id[f.market]
        need(f.maker in self.accounts, ErrorCode.UNKNOWN_ACCOUNT)
        need(f.taker in self.accounts, ErrorCode.UNKNOWN_ACCOUNT)
        need(f.maker != f.taker, ErrorCode.TRADE_SELF_MATCH)
        need(self.live(market), ErrorCode.MARKET_EXPIRED)
        need(f.size > 0, ErrorCode.TRADE_NON_POSITIVE_SIZE)
        need(f.size <= market.max_position, ErrorCode.POSITION_LIMIT_EXCEEDED)
        need(f.size % market.step_size == 0, ErrorCode.TRADE_SIZE_NOT_STEP)
        need(f.price > 0, ErrorCode.TRADE_NON_POSITIVE_PRICE)
        need(f.price <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE)
        need(f.price % market.tick_size == 0, ErrorCode.TRADE_PRICE_NOT_TICK)
        oracle = self.price(market.feed)
        need(abs(f.price - oracle) * PPM <= oracle * market.price_band_ppm, ErrorCode.TRADE_PRICE_OUT_OF_BAND)
        cap = market.max_fee_ppm
        need(
            f.maker_fee_ppm + f.taker_fee_ppm >= 0
            and abs(f.maker_fee_ppm) <= cap
            and abs(f.taker_fee_ppm) <= cap,
            ErrorCode.TRADE_FEE_INVALID,
        )
        return market

    def _trade(self, name: str, market: str, size: int, cost: int, fee: int) -> None:
        account = self.accounts[name]
        old_size, old_quote = account.positions.get(market, (0, 0))
        new_size, new_quote = old_size + size, old_quote - cost
        account.balances[QUOTE] = account.balances.get(QUOTE, 0) - fee
        if new_size == 0:
            account.balances[QUOTE] += new_quote
            account.positions.pop(market, None)
        else:
            account.positions[market] = (new_size, new_quote)

    def _settle(self, action: SettleTrades) -> None:
        need(len(action.fills) > 0, ErrorCode.TRADE_EMPTY_BATCH)
        need(len(action.fills) <= PARAMS.max_batch_fills, ErrorCode.TRADE_BATCH_TOO_LARGE)
        before = copy.deepcopy(self)
        markets = [self._check_fill(f) for f in action.fills]
        for f, market in zip(action.fills, markets, strict=True):
            notional = f.size * f.price // scale_of(market.feed)
            maker_fee = ceil_div(notional * f.maker_fee_ppm, PPM)
            taker_fee = ceil_div(notional * f.taker_fee_ppm, PPM)
            sign = 1 if f.taker_side == Side.BUY else -1
            self._trade(f.taker, f.market, sign * f.size, sign * notional, taker_fee)
            self._trade(f.maker, f.market, -sign * f.size, -sign * notional, maker_fee)
            self.fee_pool[QUOTE] += maker_fee + taker_fee
        traded = list(dict.fromkeys(f.market for f in action.fills))
        for name in dict.fromkeys(n for f in action.fills for n in (f.maker, f.taker)):
            for market_id in traded:
                market = PARAMS.market_by_id[market_id]
                size = abs(self.position(name, market_id))
                need(size <= market.max_position, ErrorCode.POSITION_LIMIT_EXCEEDED)
                minimum = max(market.min_position_size, market.step_size)
                need(size == 0 or size >= minimum, ErrorCode.POSITION_BELOW_MINIMUM)
            need(allowed(before.risk(name), self.risk(name)), ErrorCode.MARGIN_INSUFFICIENT)

    def assert_matches(self, ledger: Ledger) -> None:
        """The model's ledger holds exactly what the reference predicts."""
        assert ledger.now == self.now
        prices = {
            f: (p.price, p.round, p.updated_at, p.reference, p.reference_at) for f, p in ledger.prices.items()
        }
        assert prices == self.prices
        assert set(ledger.accounts) == set(self.accounts)
        for name, account in ledger.accounts.items():
            ref = self.accounts[name]
            assert {a: b for a, b in account.balances.items() if b} == {
                a: b for a, b in ref.balances.items() if b
            }
            assert {m: (p.size, p.quote) for m, p in account.positions.items()} == ref.positions, name
            assert account_risk(ledger, account) == Risk(*self.risk(name)), name
        assert dict(ledger.fee_pool) == self.fee_pool
        assert dict(ledger.insurance_fund) == self.insurance
        assert dict(ledger.net_deposits) == self.net_deposits
        assert ledger.gate_until == self.gate_until
        for market_id, state in ledger.markets.items():
            longs = sum(max(self.position(n, market_id), 0) for n in self.accounts)
            # No funding, socialised loss or expiry settlement runs here: the
            # indices and the pool stay zero and only open interest moves.
            assert (state.funding_index, state.loss_index, state.pool) == (0, 0, 0), market_id
            assert state.open_interest == longs, market_id
            assert state.settlement_price is None, market_id


# --- the state machine -------------------------------------------------------------


class _Free(Enum):
    """No code fixed in advance: the action may be accepted or rejected."""

    FREE = "free"


FREE = _Free.FREE


@contextmanager
def slow_checks_on() -> Iterator[None]:
    """The model's global (slow-mode) contract checks, on for the duration."""
    previous = invariants.slow_checks()
    invariants.set_slow_checks(True)
    try:
        yield
    finally:
        invariants.set_slow_checks(previous)


class ClearingMachine(RuleBasedStateMachine):
    """Random action sequences against the reference model, checked after every step."""

    tally: ClassVar[Counter[str]] = Counter()
    steps: ClassVar[int] = 0
    actions: ClassVar[int] = 0
    runs: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        assert invariants.slow_checks(), "run the machine inside slow_checks_on()"
        self.ledger = example_genesis()
        assert self.ledger.params == PARAMS
        self.reference = Reference.of(self.ledger)
        self.flows: Counter[str] = Counter()  # deposits minus withdrawals, per asset
        self.last_accepted: dict[str, OracleUpdate] = {}
        self.checks = 0
        type(self).runs += 1

    @classmethod
    def reset(cls) -> None:
        cls.tally = Counter()
        cls.steps = cls.actions = cls.runs = 0

    # -- the checks ------------------------------------------------------------------

    def _do(self, kind: str, action: Action, expected: ErrorCode | _Free | None = FREE) -> Outcome:
        before = self.ledger
        encoded = ledger_json(before)
        predicted, reference = self.reference.predict(action)
        outcome = step(before, action)
        type(self).actions += 1
        self.tally[f"{kind}:{outcome.error.value if outcome.error else 'accepted'}"] += 1
        what = f"{kind}: {describe(action)}"
        if expected is not FREE:
            assert outcome.error == expected, f"{what}: expected {expected}, model said {outcome.error}"
        assert outcome.error == predicted, f"{what}: model said {outcome.error}, reference {predicted}"
        if outcome.error is not None:
            assert outcome.ledger is before, f"{what}: rejected but returned another ledger"
            assert ledger_json(outcome.ledger) == encoded, f"{what}: rejected but changed the ledger"
        else:
            self._check_margin(before, outcome.ledger, action)
            match action:
                case Deposit(_, asset, amount):
                    self.flows[asset] += amount
                case Withdraw(_, asset, amount):
                    self.flows[asset] -= amount
                case _:
                    pass
        self.ledger = outcome.ledger
        self.reference = reference
        self._check_ledger(what)
        return outcome

    def _check_margin(self, before: Ledger, after: Ledger, action: Action) -> None:
        """Check 3: every account an accepted action put at risk satisfies the margin rule."""
        match action:
            case Withdraw(name, _, _) | Transfer(name, _, _, _):
                assert meets_initial(account_risk(after, after.accounts[name])), describe(action)
            case SettleTrades(fills):
                for name in dict.fromkeys(n for f in fills for n in (f.maker, f.taker)):
                    old = account_risk(before, before.accounts[name])
                    new = account_risk(after, after.accounts[name])
                    assert update_allowed(old, new), f"{name}: {old} -> {new}"
                    if not meets_initial(new):
                        self.tally["trade:accepted_below_initial_not_riskier"] += 1
                    for market_id, position in after.accounts[name].positions.items():
                        assert abs(position.size) <= PARAMS.market_by_id[market_id].max_position
            case _:
                pass

    def _check_ledger(self, what: str) -> None:
        """Checks 1 and 4 on the current ledger."""
        ledger = self.ledger
        assert invariants.all_global_invariants(ledger), what
        for asset in ASSETS:
            held = sum(account.balance(asset) for account in ledger.accounts.values())
            if asset == QUOTE:
                held += sum(p.quote for a in ledger.accounts.values() for p in a.positions.values())
            pools = ledger.fee_pool[asset] + ledger.insurance_fund[asset]
            if asset == QUOTE:
                pools += sum(state.pool for state in ledger.markets.values())
            assert held + pools == self.flows[asset] == ledger.net_deposits[asset], (
                f"{what}: {asset} not conserved"
            )
            assert ledger.fee_pool[asset] >= 0 and ledger.insurance_fund[asset] >= 0, what
        for market in MARKETS:
            total = sum(a.positions[market].size for a in ledger.accounts.values() if market in a.positions)
            assert total == 0, f"{what}: {market} positions sum to {total}"
        for name, account in ledger.accounts.items():
            for asset, balance in account.balances.items():
                assert asset == QUOTE or balance >= 0, f"{what}: {name} holds {balance} {asset}"
            for position in account.positions.values():
                assert position.size != 0, f"{what}: {name} keeps an empty position"
        if any(is_liquidatable(account_risk(ledger, a)) for a in ledger.accounts.values()):
            self.tally["ledger:some_account_below_maintenance"] += 1
        self.reference.assert_matches(ledger)

    @invariant()
    def count_step(self) -> None:
        self.checks += 1

    def teardown(self) -> None:
        type(self).steps += max(self.checks - 1, 0)  # the first check runs before any step

    # -- helpers ---------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(self.ledger.accounts)

    def headroom(self) -> dict[str, int]:
        """Free collateral (NC - IMR) of every account, in quote base units."""
        return {name: nc - imr for name in self.names() for nc, imr, _ in [self.reference.risk(name)]}

    def live_markets(self) -> list[MarketParams]:
        return [m for m in PARAMS.markets if self.reference.live(m)]

    def prices(self) -> dict[str, int]:
        return {f: self.reference.price(f) for f in FEEDS}

    def asset_price(self, asset: str) -> int:
        return 1 if asset == QUOTE else self.reference.price(feed_of_asset(asset))

    def held_asset(self, data: st.DataObject, name: str) -> str:
        """Mostly an asset the account holds, sometimes any."""
        held = [a for a in ASSETS if self.reference.balance(name, a) > 0]
        if held and data.draw(st.integers(0, 4)) > 0:
            return data.draw(st.sampled_from(held))
        return data.draw(st.sampled_from(ASSETS))

    def two_names(self, data: st.DataObject) -> tuple[str, str]:
        first, second = data.draw(st.permutations(self.names()))[:2]
        return first, second

    # -- collateral ------------------------------------------------------------------

    @initialize(data=st.data())
    def fund(self, data: st.DataObject) -> None:
        for name in FUNDED:
            usd = data.draw(st.sampled_from([1_000, 10_000, 50_000, 100_000, 1_000_000]))
            self._do("deposit", Deposit(name, QUOTE, usd * USD), expected=None)
        for asset in ASSETS[1:]:
            if data.draw(st.booleans()):
                amount = data.draw(deposit_amounts(asset, self.asset_price(asset)))
                self._do("deposit", Deposit(data.draw(st.sampled_from(FUNDED)), asset, amount), expected=None)

    @rule(data=st.data())
    def deposit(self, data: st.DataObject) -> None:
        asset = data.draw(st.sampled_from(ASSETS))
        amount = data.draw(deposit_amounts(asset, self.asset_price(asset)))
        self._do("deposit", Deposit(data.draw(st.sampled_from(POOL)), asset, amount), expected=None)

    @rule(data=st.data())
    def withdraw(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self.names()))
        asset = self.held_asset(data, name)
        amount = data.draw(amounts_against(self.reference.balance(name, asset)))
        self._do("withdraw", Withdraw(name, asset, amount))

    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        source, destination = self.two_names(data)
        asset = self.held_asset(data, source)
        amount = data.draw(amounts_against(self.reference.balance(source, asset)))
        self._do("transfer", Transfer(source, destination, asset, amount))

    def free_collateral(self) -> list[tuple[str, int]]:
        """Accounts with a margin requirement whose free collateral (NC - IMR) is
        positive and covered by their quote balance, with that amount."""
        found = []
        for name in self.names():
            nc, imr, _ = self.reference.risk(name)
            if imr > 0 and 0 < nc - imr <= self.reference.balance(name, QUOTE):
                found.append((name, nc - imr))
        return found

    @precondition(lambda self: bool(self.free_collateral()))
    @rule(data=st.data())
    def to_the_margin_edge(self, data: st.DataObject) -> None:
        """Withdraw or transfer exactly the free collateral (accepted: the account
        ends with NC == IMR), or one base unit more (refused: MRG-5)."""
        name, free = data.draw(st.sampled_from(self.free_collateral()))
        past = data.draw(st.booleans())
        amount = free + 1 if past else free
        if past:
            short = amount > self.reference.balance(name, QUOTE)
            expected = ErrorCode.INSUFFICIENT_BALANCE if short else ErrorCode.MARGIN_INSUFFICIENT
        else:
            expected = None
        other = [n for n in self.names() if n != name]
        if len(other) > 0 and data.draw(st.booleans()):
            action: Action = Transfer(name, data.draw(st.sampled_from(other)), QUOTE, amount)
        else:
            action = Withdraw(name, QUOTE, amount)
        outcome = self._do("margin_edge_past" if past else "margin_edge", action, expected)
        if outcome.error is None:
            risk = account_risk(outcome.ledger, outcome.ledger.accounts[name])
            assert risk.nc == risk.imr, f"{name} should sit exactly at initial margin: {risk}"

    @rule(data=st.data())
    def collateral_invalid(self, data: st.DataObject) -> None:
        """A deposit, withdrawal or transfer broken in one way, with the code it must get."""
        self._collateral_invalid(data, data.draw(st.sampled_from(COLLATERAL_DEFECTS)))

    def _collateral_invalid(self, data: st.DataObject, kind: str) -> None:
        source, destination = self.two_names(data)
        ghost = data.draw(st.sampled_from(GHOSTS))
        asset = data.draw(st.sampled_from(ASSETS))
        amount = max(1, self.reference.balance(source, asset) // 2)
        bad_amount, bad_code = data.draw(bad_amounts())
        action: Action
        code = bad_code
        match kind:
            case "deposit_unknown_asset":
                action, code = Deposit(source, UNKNOWN_ASSET, amount), ErrorCode.UNKNOWN_ASSET
            case "deposit_bad_amount":
                action = Deposit(data.draw(st.sampled_from(POOL + GHOSTS)), asset, bad_amount)
            case "withdraw_unknown_account":
                action, code = Withdraw(ghost, asset, amount), ErrorCode.UNKNOWN_ACCOUNT
            case "withdraw_unknown_asset":
                action, code = Withdraw(source, UNKNOWN_ASSET, amount), ErrorCode.UNKNOWN_ASSET
            case "withdraw_bad_amount":
                action = Withdraw(source, asset, bad_amount)
            case "transfer_unknown_source":
                action, code = Transfer(ghost, destination, asset, amount), ErrorCode.UNKNOWN_ACCOUNT
            case "transfer_unknown_destination":
                action, code = Transfer(source, ghost, asset, amount), ErrorCode.UNKNOWN_ACCOUNT
            case "transfer_self":
                action, code = Transfer(source, source, asset, amount), ErrorCode.SELF_TRANSFER
            case "transfer_unknown_asset":
                action, code = Transfer(source, destination, UNKNOWN_ASSET, amount), ErrorCode.UNKNOWN_ASSET
            case _:
                assert kind == "transfer_bad_amount"
                action = Transfer(source, destination, asset, bad_amount)
        self._do(f"collateral_invalid:{kind}", action, code)

    # -- the clock -------------------------------------------------------------------

    @rule(data=st.data())
    def move_clock(self, data: st.DataObject) -> None:
        now = self.ledger.now
        expiry = DATED.expiry
        assert expiry is not None
        kind = data.draw(
            st.sampled_from(
                ["tick"] * 4 + ["jump", "same", "backwards", "backwards", "expiry-1", "expiry", "past_expiry"]
            )
        )
        target = {
            "tick": now + data.draw(st.integers(1, 90)),
            "jump": now + data.draw(st.integers(91, 100_000)),
            "same": now,
            "backwards": now - data.draw(st.integers(1, max(1, now + 10))),
            "expiry-1": expiry - 1,
            "expiry": expiry,
            "past_expiry": expiry + data.draw(st.integers(1, 100_000)),
        }[kind]
        self._do("clock", AdvanceTime(target), ErrorCode.CLOCK_NOT_MONOTONIC if target < now else None)

    # -- the oracle ------------------------------------------------------------------

    def oracle_context(self, feed: str) -> OracleContext:
        price, last_round, _, reference, reference_at = self.reference.prices[feed]
        now = self.ledger.now
        if reference_at < now // ORACLE.breaker_interval * ORACLE.breaker_interval:
            reference = price  # ORA-10: a new interval starts from the price in force
        return OracleContext(feed, price, last_round, now, self.last_accepted.get(feed), reference)

    @rule(data=st.data())
    def oracle_update(self, data: st.DataObject) -> None:
        ctx = self.oracle_context(data.draw(st.sampled_from(FEEDS)))
        update = data.draw(honest_updates(ctx.feed, ctx.previous, ctx.last_round, ctx.now, ctx.reference))
        self._do("oracle", update, expected=None)
        self.last_accepted[ctx.feed] = update

    @rule(data=st.data())
    def oracle_edge(self, data: st.DataObject) -> None:
        """A round exactly at, or one unit past, the circuit breaker or the report band."""
        ctx = self.oracle_context(data.draw(st.sampled_from(FEEDS)))
        kind = data.draw(st.sampled_from(sorted(EDGE_ROUNDS)))
        update = data.draw(edge_updates(kind, ctx))
        expected: ErrorCode | _Free | None = EDGE_ROUNDS[kind]
        if ctx.reference != ctx.previous:
            # ORA-10 may refuse a round at ORA-9's edge once the interval has
            # moved; the reference machine's prediction still binds the model.
            expected = FREE
        outcome = self._do(f"oracle_edge:{kind}", update, expected)
        if outcome.error is None:
            self.last_accepted[ctx.feed] = update

    @rule(data=st.data())
    def oracle_forged_report(self, data: st.DataObject) -> None:
        """A round with one report broken (signature, reporter, price, round, time)."""
        self._forged(data, data.draw(st.sampled_from(REPORT_FORGERIES)))

    @rule(data=st.data())
    def oracle_forged_round(self, data: st.DataObject) -> None:
        """A round broken as a whole (feed, replay, quorum, band, circuit breaker)."""
        self._forged(data, data.draw(st.sampled_from(sorted(set(FORGERIES) - set(REPORT_FORGERIES)))))

    def _forged(self, data: st.DataObject, kind: str) -> None:
        ctx = self.oracle_context(data.draw(st.sampled_from(FEEDS)))
        update = data.draw(forged_updates(kind, ctx))
        self._do(f"oracle_forged:{kind}", update, FORGERIES[kind])

    # -- trading ---------------------------------------------------------------------

    @precondition(lambda self: len(self.ledger.accounts) >= 2)
    @rule(data=st.data())
    def batch_of_trades(self, data: st.DataObject) -> None:
        count = data.draw(st.integers(1, 3))
        fills = [data.draw(valid_fills(PARAMS.markets, self.prices(), self.headroom())) for _ in range(count)]
        self._do("trade", SettleTrades(tuple(fills)))

    @precondition(lambda self: len(self.ledger.accounts) >= 2)
    @rule(data=st.data())
    def trade_invalid_fill(self, data: st.DataObject) -> None:
        """A batch with one fill broken in one way (TRD-2)."""
        self._trade_invalid(data, data.draw(st.sampled_from(FILL_DEFECTS)))

    @precondition(lambda self: len(self.ledger.accounts) >= 2)
    @rule(data=st.data())
    def trade_invalid_batch(self, data: st.DataObject) -> None:
        """A batch broken as a whole: empty, too large, past the position limit, or
        (less often, since it ends the dated market's life) trading it after expiry."""
        kinds = ["empty_batch", "batch_too_large", "position_limit"] * 2 + ["expired_market"]
        self._trade_invalid(data, data.draw(st.sampled_from(kinds)))

    def _trade_invalid(self, data: st.DataObject, kind: str) -> None:
        if kind == "expired_market" and self.reference.live(DATED):
            assert DATED.expiry is not None
            self._do("clock", AdvanceTime(DATED.expiry + data.draw(st.integers(0, 1_000))), expected=None)
        count = data.draw(st.integers(1, 3))
        fills = [
            data.draw(valid_fills(self.live_markets(), self.prices(), self.headroom())) for _ in range(count)
        ]
        i = data.draw(st.integers(0, count - 1))
        if kind == "empty_batch":
            fills = []
        elif kind == "batch_too_large":
            fills = [fills[0]] * (PARAMS.max_batch_fills + data.draw(st.integers(1, 3)))
        elif kind == "expired_market":
            fills[i] = data.draw(valid_fills([DATED], self.prices(), self.headroom()))
        elif kind == "position_limit":
            fills = self.over_the_limit(data)
        else:
            market = PARAMS.market_by_id[fills[i].market]
            oracle_price = self.reference.price(market.feed)
            fills[i] = data.draw(defective_fills(kind, fills[i], market, oracle_price))
        self._do(f"trade_invalid:{kind}", SettleTrades(tuple(fills)), TRADE_DEFECTS[kind])

    def over_the_limit(self, data: st.DataObject) -> list[Fill]:
        """Two or three fills, each within the per-fill limit, that together push
        the maker's position past the market's limit (TRD-6)."""
        maker, taker = self.two_names(data)
        market = data.draw(st.sampled_from(self.live_markets()))
        size = market.max_position * 3 // 5 // market.step_size * market.step_size
        maker_goes_long = self.reference.position(maker, market.market_id) >= 0
        price = data.draw(band_prices(market, self.reference.price(market.feed)))
        maker_fee, taker_fee = data.draw(valid_fees(market))
        side = Side.SELL if maker_goes_long else Side.BUY
        fill = Fill(market.market_id, maker, taker, side, size, price, maker_fee, taker_fee)
        return [fill] * data.draw(st.integers(2, 3))

    @precondition(lambda self: len(self.ledger.accounts) >= 2)
    @rule(data=st.data())
    def margin_break(self, data: st.DataObject) -> None:
        """A fill far larger than the taker's collateral carries (usually refused)."""
        maker, taker = self.two_names(data)
        market = data.draw(st.sampled_from(self.live_markets()))
        oracle_price = self.reference.price(market.feed)
        nc = self.reference.risk(taker)[0]
        leverage = data.draw(st.sampled_from([15, 25, 50, 100, 1_000]))
        size = sized_for(market, oracle_price, max(nc, 1_000 * USD) * leverage)
        maker_fee, taker_fee = data.draw(valid_fees(market))
        fill = Fill(
            market.market_id,
            maker,
            taker,
            data.draw(st.sampled_from(Side)),
            size,
            data.draw(band_prices(market, oracle_price)),
            maker_fee,
            taker_fee,
        )
        self._do("margin_break", SettleTrades((fill,)))

    def open_positions(self) -> list[tuple[str, str]]:
        return [
            (name, market)
            for name, account in sorted(self.reference.accounts.items())
            for market in sorted(account.positions)
            if self.reference.live(PARAMS.market_by_id[market])
        ]

    @precondition(lambda self: bool(self.open_positions()))
    @rule(data=st.data())
    def reduce_position(self, data: st.DataObject) -> None:
        """Close (usually) or shrink an open position against another account."""
        name, market_id = data.draw(st.sampled_from(self.open_positions()))
        market = PARAMS.market_by_id[market_id]
        other = data.draw(st.sampled_from([n for n in self.names() if n != name]))
        held = self.reference.position(name, market_id)
        divisor = data.draw(st.sampled_from([1, 1, 1, 2, 3]))
        size = max(abs(held) // divisor // market.step_size * market.step_size, market.step_size)
        maker_fee, taker_fee = data.draw(valid_fees(market))
        price = data.draw(band_prices(market, self.reference.price(market.feed)))
        # The account sells to close a long, buys to close a short, as maker or taker.
        buys, sells = (Side.BUY, Side.SELL) if held < 0 else (Side.SELL, Side.BUY)
        if data.draw(st.booleans()):  # the account is the taker
            fill = Fill(market_id, other, name, buys, size, price, maker_fee, taker_fee)
        else:
            fill = Fill(market_id, name, other, sells, size, price, maker_fee, taker_fee)
        kind = "close" if size == abs(held) else "reduce"
        self._do(kind, SettleTrades((fill,)))


# --- running it ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    """What one run of the machine did."""

    runs: int
    steps: int
    actions: int
    seconds: float
    tally: Counter[str]

    def count(self, kind: str, outcome: str) -> int:
        """How many actions of ``kind`` ended in ``outcome`` ("accepted" or a code)."""
        return self.tally[f"{kind}:{outcome}"]

    def summary(self) -> str:
        lines = [
            f"stateful run: {self.runs} sequences, {self.steps} rule steps, "
            f"{self.actions} actions in {self.seconds:.1f} s ({'long' if LONG else 'CI'} profile, "
            f"helper contracts {'on' if k.SLOW_CONTRACTS else 'off'})"
        ]
        lines += [f"  {n:6d}  {key}" for key, n in sorted(self.tally.items())]
        return "\n".join(lines)


def run_machine(profile: settings) -> RunReport:
    """Run the machine under ``profile`` with the slow checks on, and report."""
    ClearingMachine.reset()
    start = time.perf_counter()
    with slow_checks_on():
        run_state_machine_as_test(ClearingMachine, settings=profile)
    seconds = time.perf_counter() - start
    machine = ClearingMachine
    return RunReport(machine.runs, machine.steps, machine.actions, seconds, Counter(machine.tally))


_RESULT: list[RunReport | BaseException] = []


def main_run() -> RunReport:
    """The run both tests below look at, made once per session."""
    if not _RESULT:
        try:
            # A fresh interpreter: the counts depend on the source only (tests.isolated).
            profile = "LONG_SETTINGS" if LONG else "CI_SETTINGS"
            _RESULT.append(run_isolated("tests.test_stateful", "run_machine", profile, RunReport))
        except BaseException as error:
            _RESULT.append(error)
            raise
    result = _RESULT[0]
    if isinstance(result, BaseException):
        pytest.fail(f"the stateful run failed (see test_state_machine): {result!r}")
    return result


def test_state_machine() -> None:
    """Every check holds after every step of every sequence; enough steps ran."""
    report = main_run()
    print("\n" + report.summary())
    assert report.steps >= MIN_STEPS, f"only {report.steps} steps ran"


def test_run_is_not_vacuous() -> None:
    """The run reached the interesting outcomes, so its passing means something.

    The thresholds sit well below what the CI run reaches (about a third), so a
    change of the strategies does not trip them, but a run where trades,
    oracle rounds or margin rejections stopped happening does."""
    report = main_run()
    margin = ErrorCode.MARGIN_INSUFFICIENT.value

    def kinds(prefix: str) -> int:
        return sum(n for key, n in report.tally.items() if key.startswith(prefix))

    assert report.count("trade", "accepted") >= 150
    assert report.count("close", "accepted") + report.count("reduce", "accepted") >= 15
    assert report.count("oracle", "accepted") + kinds("oracle_edge:band_edge:accepted") >= 50
    assert report.count("deposit", "accepted") >= 300
    assert report.count("withdraw", "accepted") + report.count("transfer", "accepted") >= 80
    assert report.count("trade", margin) + report.count("margin_break", margin) >= 150
    collateral_margin = [report.count(k, margin) for k in ("withdraw", "transfer", "margin_edge_past")]
    assert sum(collateral_margin) >= 5
    # The derandomized run still differs with which modules the session imported
    # first (seen: 11 margin-edge acceptances and 8 expired-market trades when
    # tests/test_mutation.py is collected, 20+ and 10+ otherwise; to be traced to
    # an iteration order that depends on object ids), so these two sit lower.
    assert report.count("margin_edge", "accepted") >= 5
    assert report.count("clock", ErrorCode.CLOCK_NOT_MONOTONIC.value) >= 10
    assert report.count("trade", ErrorCode.MARKET_EXPIRED.value) >= 4
    assert kinds("oracle_forged:") >= 100
    assert kinds("trade_invalid:") >= 100
    assert kinds("collateral_invalid:") >= 50


# --- every broken kind, from a fixed state ---------------------------------------------

PER_KIND = settings(CI_SETTINGS, max_examples=4)


def primed_machine() -> ClearingMachine:
    """A machine after funding, a trade, a clock move and an accepted oracle round."""
    machine = ClearingMachine()
    for name in FUNDED:
        machine._do("deposit", Deposit(name, QUOTE, 100_000 * USD), expected=None)
    machine._do("deposit", Deposit("bob", "BTC", 10**8), expected=None)
    price = machine.reference.price("BTC-USD")
    fill = Fill("BTC-PERP", "bob", "alice", Side.BUY, 10**7, price, 0, 500)
    machine._do("trade", SettleTrades((fill,)), expected=None)
    machine._do("clock", AdvanceTime(100), expected=None)
    update = signed_update("BTC-USD", [price, price + 10_000, price - 10_000], 99, 1)
    machine._do("oracle", update, expected=None)
    machine.last_accepted["BTC-USD"] = update
    return machine


@pytest.mark.parametrize("kind", sorted(FORGERIES))
@PER_KIND
@given(data=st.data())
def test_each_forgery_is_rejected_with_its_code(kind: str, data: st.DataObject) -> None:
    """ORA-*: every kind of forged round is refused with its own code, state untouched."""
    with slow_checks_on():
        primed_machine()._forged(data, kind)


@pytest.mark.parametrize("kind", sorted(TRADE_DEFECTS))
@PER_KIND
@given(data=st.data())
def test_each_trade_defect_is_rejected_with_its_code(kind: str, data: st.DataObject) -> None:
    """TRD-*: every kind of broken batch is refused with its own code, state untouched."""
    with slow_checks_on():
        primed_machine()._trade_invalid(data, kind)


@pytest.mark.parametrize("kind", COLLATERAL_DEFECTS)
@PER_KIND
@given(data=st.data())
def test_each_collateral_defect_is_rejected_with_its_code(kind: str, data: st.DataObject) -> None:
    """COL-*: every kind of broken deposit, withdrawal or transfer is refused with its code."""
    with slow_checks_on():
        primed_machine()._collateral_invalid(data, kind)


def test_example_scenario_under_the_same_checks() -> None:
    """The built-in scenario passes every check the machine makes (a fast smoke test)."""
    from clearspec_tools.examples import example_scenario

    ClearingMachine.reset()
    with slow_checks_on():
        machine = ClearingMachine()
        for action in example_scenario():
            machine._do("scenario", action)
    assert machine.tally["scenario:accepted"] == 9
    assert machine.tally[f"scenario:{ErrorCode.MARGIN_INSUFFICIENT.value}"] == 1
