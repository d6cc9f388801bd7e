"""The hypotheses of one transition's obligations, and the search for states
that satisfy them (witnesses).

A proof needs hypotheses shown satisfiable (PRF-1), a rejection obligation
needs a state where exactly one check fails first, and a counterexample is a
state too: all three are *searches* for a model, never proofs. A search is
tried first in layers where products become linear, cheapest first:

1. every feed at its witness price, every index at 0, a fill at the oracle
   price, and every position size at its value in the acceptance witness;
2. the same with the fill price free;
3. prices, indices and the fill fixed, sizes free;
4. prices and indices fixed;

and only then, when the caller allows it, free (non-linear). A model found in
any layer is a model of the query itself, so the layers change how fast a
state is found, never what is proved. Each query's answer depends on its text
and limit only (``clearspec_proofs.solver``), so the search is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import z3

from clearspec import kernel as k
from clearspec.params import ProtocolParams
from clearspec_proofs import solver
from clearspec_proofs.invariants import all_invariants
from clearspec_proofs.symbolic import World

# A layer of the search (linear: quick when it has a model, and when it has
# none an unsat is quick too) gets this fraction of the limit.
LAYER_SHARE = 4
# The free (non-linear) query of a search that only looks for one more witness,
# never a proof, gets this fraction of the limit.
FREE_SHARE = 16


def is_nonlinear(expr: Any) -> bool:
    """True when the term multiplies two non-constant terms somewhere."""
    seen: set[int] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if node.get_id() in seen:
            continue
        seen.add(node.get_id())
        if z3.is_mul(node) and sum(1 for c in node.children() if not z3.is_int_value(c)) > 1:
            return True
        if (z3.is_div(node) or z3.is_idiv(node) or z3.is_mod(node)) and not z3.is_int_value(
            node.children()[1]
        ):
            return True
        stack.extend(node.children())
    return False


def witness_constraints(world: World) -> list[Any]:
    """Extra constraints that make products linear, used only to *find* a state
    (never in a proof): each feed at its witness price (roles.witness_price: on
    the tick of every market it prices) and every funding and loss index at 0."""
    prices = world.roles.witness_prices
    fixed = []
    for name, variable in world.variables.items():
        feed = name.removeprefix("price[").removesuffix("]") if name.startswith("price[") else ""
        if feed in prices:
            fixed.append(variable == prices[feed])
        elif "index[" in name:
            fixed.append(variable == 0)
    return fixed


def as_bool(condition: Any) -> Any:
    return z3.BoolVal(condition) if isinstance(condition, bool) else condition


class Hypotheses:
    """The hypotheses of one transition's obligations, in two strengths.

    ``weak``: the world's assumptions, the invariants before and the guards that
    are linear; ``strong``: also the non-linear guards (margin checks). A goal is
    first tried under ``weak`` (a proof under fewer hypotheses is still a proof,
    and non-linear premises slow the solver), then under ``strong``. Each
    strength is shown satisfiable before it is used.
    """

    def __init__(
        self, world: World, trace: k.Trace, params: ProtocolParams, rlimit: int, shown_elsewhere: bool = False
    ) -> None:
        # "well-formed" is what the world assumes already; as a hypothesis it
        # would only repeat those assumptions (it is still proved as a goal).
        invariants_before = [
            as_bool(inv.holds(world.ledger)) for inv in all_invariants(params) if inv.name != "well-formed"
        ]
        base = [*world.assumptions, *invariants_before]
        guards = [g for g, _, _ in trace.guards]
        linear = [g for g in guards if not is_nonlinear(g)]
        self.weak = base + linear
        self.strong = base + guards
        # The strong hypotheses without the guards: the base of a search for a
        # state where some guard fails.
        self.unguarded = base
        self.guards = guards
        self.rlimit = rlimit
        self.world = world
        self.witness = witness_constraints(world)
        # A fill at the oracle price (LIQ-3: always fillable; TRD-3: within the
        # band) makes the remaining products linear.
        fill_price = world.roles.fill_witness_price()
        fill = world.variables.get("fill.price")
        self.fill_at_witness_price = [] if fill is None or fill_price is None else [fill == fill_price]
        # True in every slice of a transition but the first (runner.SLICES): the
        # first shows the strong hypotheses satisfiable, as the obligation
        # CASE/acceptance/can be accepted, and the runner withdraws every proof
        # of the transition if it fails (runner.withdraw_unsupported).
        self.shown_elsewhere = shown_elsewhere
        self._satisfiable: dict[str, Any] = {}
        self._sizes: list[Any] | None = None  # None: not searched yet
        self._accepted = False  # the price layers found a state accepting the action
        # The unit's escalation budget (solver.Escalation), shared by its queries.
        self.escalation = solver.Escalation()

    # --- layers ---------------------------------------------------------------

    def _price_layers(self) -> list[list[Any]]:
        """Prices fixed, with the fill at the oracle price first (if there is a fill)."""
        if self.fill_at_witness_price:
            return [self.witness + self.fill_at_witness_price, self.witness]
        return [self.witness]

    def acceptance_sizes(self) -> list[Any]:
        """Every position size at its value in a state that accepts the action
        (found in the price layers), or nothing when none is found there."""
        if self._sizes is None:
            self._sizes = []
            for layer in self._price_layers():
                outcome = solver.check(self.strong, layer, limit=self.rlimit, want_model=True)
                if outcome.answer == z3.sat and outcome.model is not None:
                    model, self._accepted = outcome.model, True
                    self._sizes = [
                        v == model.eval(v, model_completion=True)
                        for n, v in self.world.variables.items()
                        if ".size[" in n
                    ]
                    break
        return self._sizes

    def layers(self) -> list[list[Any]]:
        """The search's linear layers, in the order the module doc gives."""
        sizes = self.acceptance_sizes()
        if not sizes:
            return self._price_layers()
        if self.fill_at_witness_price:
            fill = self.fill_at_witness_price
            return [self.witness + fill + sizes, self.witness + sizes, self.witness + fill, self.witness]
        return [self.witness + sizes, self.witness]

    # --- searches -------------------------------------------------------------

    def find(
        self,
        base: Sequence[Any],
        extra: Sequence[Any],
        *,
        free_limit: int = 0,
        escalate: bool = False,
        want_model: bool = True,
    ) -> tuple[Any, Any]:
        """(answer, model) for ``base + extra``: ``sat`` with a model from the
        first layer that has one; else the free query's answer at
        ``free_limit`` (with the unit's escalation if ``escalate``), or
        ``unknown`` without a free query (``free_limit`` 0). Only the free
        query's ``unsat`` says that no state exists."""
        layer_limit = max(self.rlimit // LAYER_SHARE, 1)
        for layer in self.layers():
            outcome = solver.check(base, [*extra, *layer], limit=layer_limit, want_model=want_model)
            if outcome.answer == z3.sat:
                return z3.sat, outcome.model
        if free_limit <= 0:
            return z3.unknown, None
        outcome = solver.check(
            base,
            extra,
            limit=free_limit,
            escalation=self.escalation if escalate else None,
            want_model=want_model,
        )
        return outcome.answer, outcome.model

    def first_failing(self, position: int) -> tuple[Any, Any]:
        """(answer, model): a state where every guard before ``position`` passes
        and that one fails. The free query, non-linear, gets ``FREE_SHARE`` of
        the limit and no escalation: it only decides whether one more witness
        exists, never a proof."""
        failing = [*self.guards[:position], z3.Not(self.guards[position])]
        return self.find(self.unguarded, failing, free_limit=max(self.rlimit // FREE_SHARE, 1))

    def satisfiable(self, strength: str) -> Any:
        """sat, unsat or unknown for the hypotheses of that strength. The weak
        ones are a subset of the strong ones, so a model of the strong ones
        shows both; the strong ones are therefore asked first."""
        if self.shown_elsewhere:
            return z3.sat
        if strength not in self._satisfiable:
            if strength == "weak" and self.satisfiable("strong") == z3.sat:
                self._satisfiable["weak"] = z3.sat
                return z3.sat
            self.acceptance_sizes()
            if strength == "strong" and self._accepted:
                self._satisfiable["strong"] = z3.sat
                return z3.sat
            hypotheses = self.weak if strength == "weak" else self.strong
            answer = z3.unknown
            # The strong hypotheses' price layers are acceptance_sizes' own queries.
            for layer in self._price_layers() if strength == "weak" else ():
                if solver.check(hypotheses, layer, limit=self.rlimit).answer == z3.sat:
                    answer = z3.sat
                    break
            if answer != z3.sat:
                answer = solver.check(hypotheses, limit=self.rlimit, escalation=self.escalation).answer
            self._satisfiable[strength] = answer
        return self._satisfiable[strength]
