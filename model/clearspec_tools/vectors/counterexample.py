"""A prover counterexample as the inputs of a conformance case (VEC-1).

The prover builds no wire format itself: ``clearspec prove`` names
:func:`counterexample_vector` in ``clearspec_proofs.counterexample.VECTOR_CODEC_ENV``,
so each counterexample's record carries a state and an action the wire can
carry, and a saved file becomes a regression vector.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import icontract
from immutables import Map

from clearspec.actions import Action
from clearspec.errors import ClearingError
from clearspec.state import Ledger
from clearspec_tools.vectors.codec import decode_state, encode_action, encode_params, encode_state

# The value of VECTOR_CODEC_ENV that names this module's codec.
CODEC_NAME = f"{__name__}:counterexample_vector"


def counterexample_vector(ledger: Ledger, action: Action) -> dict[str, Any] | None:
    """The counterexample as the inputs of a conformance case (VEC-1), or None
    when the solver's state is one the wire cannot carry (say, a position of
    size zero, which no reachable state has)."""
    # The symbolic world has a slot for every position; an empty slot (size and
    # quote zero) is a position that does not exist.
    accounts = {
        name: replace(
            account,
            positions=Map({m: p for m, p in account.positions.items() if p.size != 0 or p.quote != 0}),
        )
        for name, account in ledger.accounts.items()
    }
    ledger = replace(ledger, accounts=Map(accounts))
    try:
        state = encode_state(ledger)
        decode_state(state, ledger.params)
        return {
            "params": encode_params(ledger.params),
            "pre_state": state,
            "actions": [encode_action(action)],
        }
    except (ClearingError, TypeError, ValueError, icontract.ViolationError):
        return None
