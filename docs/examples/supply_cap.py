"""A designer's own invariant, and the counterexample the prover returns for it.

    python docs/examples/supply_cap.py

"The ledger never holds more than 21 million BTC" is not a rule of the protocol:
nothing caps the sum of deposits (PAR-1 bounds each amount, not the total). The
prover says so with a concrete ledger and deposit, replayed through the model,
in the same table ``clearspec prove`` prints. Exit status 0 when the prover
finds the counterexample, as the documentation expects; 1 otherwise.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    # Contract obligations exist only in slow mode, fixed when the model is imported.
    os.environ.setdefault("CLEARSPEC_SLOW_CHECKS", "1")
    from clearspec_proofs.engine import check_case
    from clearspec_proofs.invariants import register_invariant, unregister_invariant
    from clearspec_proofs.report import print_table
    from clearspec_proofs.transitions import CASES
    from clearspec_tools.examples import BTC, example_params

    params = example_params()
    case = next(c for c in CASES if c.name == "deposit-collateral")
    register_invariant("btc-supply", "USER-1", lambda ledger: ledger.net_deposits["BTC"] <= 21_000_000 * BTC)
    try:
        results = [r.as_json() for r in check_case(case, params, goal_filter="btc-supply")]
    finally:
        unregister_invariant("btc-supply")
    summary = {
        "total": len(results),
        "proved": sum(1 for r in results if r["status"] == "proved"),
        "counterexample": sum(1 for r in results if r["status"] == "counterexample"),
        "unknown": sum(1 for r in results if r["status"] == "unknown"),
        "seconds": round(sum(r["seconds"] for r in results), 2),
        "counterexample_files": [],
    }
    print_table(results, summary)
    return 0 if summary["counterexample"] == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
