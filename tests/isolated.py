"""A stateful run in a fresh interpreter, so its tally is a function of the
source alone: a derandomized Hypothesis run in the pytest process was seen to
reach different counts depending on the test files run before it."""

from __future__ import annotations

import base64
import dataclasses
import os
import pickle
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import base64, dataclasses, pickle, sys
module = __import__(sys.argv[1], fromlist=["_"])
report = getattr(module, sys.argv[2])(getattr(module, sys.argv[3]))
fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
print(base64.b64encode(pickle.dumps(fields)).decode())
"""


def run_isolated(module: str, function: str, profile: str, report_type: Any) -> Any:
    """``module.function(module.profile)`` in a new process (hash seed 0, only that
    module's imports), its dataclass report rebuilt here; a failing run raises
    AssertionError with the end of its standard error."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, module, function, profile],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"the isolated run of {module}.{function} failed:\n{done.stderr[-4000:]}")
    # The child's own report, from the same source: pickle carries the tally's keys as they are.
    fields = pickle.loads(base64.b64decode(done.stdout.strip().splitlines()[-1]))
    names = {f.name for f in dataclasses.fields(report_type)}
    values = {name: value for name, value in fields.items() if name in names}
    values["tally"] = Counter(values["tally"])
    return report_type(**values)
