"""clearspec: the reference model of a derivatives clearing protocol.

Start at :func:`clearspec.transition.apply`; the rules are in ``spec/``.
"""

from clearspec.errors import ClearingError, ErrorCode
from clearspec.state import Ledger, genesis
from clearspec.transition import Outcome, apply, step

__all__ = ["ClearingError", "ErrorCode", "Ledger", "Outcome", "apply", "genesis", "step"]
__version__ = "0.3.0"
SPEC_VERSION = "0.3.0"
