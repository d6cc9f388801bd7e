"""Hostile values for the fuzz campaign: tokens, numbers, times and names drawn
from a seeded generator, and the edits that damage a JSON document, a CSV file
or any text. Every function takes the campaign's ``random.Random``, so a seed
fixes every input."""

from __future__ import annotations

import json
import random
from typing import Any

# Tokens that stand for a number, a time or a name in a hostile file or option.
TOKENS = [
    "",
    "-1",
    "0",
    "1e999999999",
    "1e-999999999",
    "1e400",
    "-0",
    "nan",
    "inf",
    "-inf",
    "0x10",
    "1_000",
    "9" * 5_000,
    "1" * 1_000_000,
    "\u00e9\u00e8",
    "\x00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2024-13-45T99:99:99Z",
    str(2**64),
    str(-(2**63)),
    "1.5",
    "true",
    "null",
    "[]",
    "{}",
]
BITS = (7, 8, 15, 16, 31, 32, 53, 63, 64, 127, 128, 256)
# Characters that trip parsers: controls, quotes, separators, non-ASCII digits
# (int() reads Arabic-Indic and full-width ones), a BOM, and the surrogate a
# command line's undecodable byte 0xff becomes (the only kind argv can hold).
HOSTILE_CHARACTERS = (
    "\x00\x01\t\n\r\x7f \"',;=\\/:.-+_eE%$#"
    "\u0660\u0661\u0669\uff11\uff19\u00b2\u2212\u00a0\u2028\ufeff\udcff\U0001f600"
)


def integer_text(rng: random.Random) -> str:
    """An integer as text: small, at a power of two, long, or dressed (sign, blanks,
    underscores, leading zeros, other scripts' digits)."""
    pick = rng.randrange(6)
    if pick == 0:
        return str(rng.randint(-10, 10))
    if pick == 1:
        return str(rng.choice((-1, 1, 1)) * 2 ** rng.choice(BITS) + rng.randint(-2, 2))
    if pick == 2:
        return str(rng.randint(-(10**6), 10**7))
    if pick == 3:
        return rng.choice(("", "-", "+")) + "".join(rng.choices("0123456789", k=rng.randint(1, 60)))
    if pick == 4:
        core = str(rng.randint(0, 10**6))
        return rng.choice((" ", "", "0000", "+", "\t")) + core + rng.choice(("", " ", "_0", "\n", "  "))
    digits = rng.choice(("\u0660\u0661\u0662", "\uff10\uff11\uff12", "\u00b2", "\u2212" + "1"))
    return "".join(rng.choices(digits, k=rng.randint(1, 6)))


def number_text(rng: random.Random) -> str:
    """A number, a time, a name or garbage, as text."""
    pick = rng.randrange(10)
    if pick == 0:
        return rng.choice(TOKENS)
    if pick in (1, 2):
        return integer_text(rng)
    if pick == 3:
        mantissa = f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 12)}f}"
        return rng.choice((mantissa, f"{mantissa}e{rng.randint(-400, 400)}", f"{rng.random():.20g}"))
    if pick == 4:
        return time_text(rng)
    if pick == 5:
        return garbage(rng, rng.randint(0, 40))
    if pick == 6:
        return rng.choice(("9", "1", "0")) * rng.choice((4_299, 4_300, 4_301, 5_000, 20_000))
    if pick == 7:
        return rng.choice(("1e", "-1e", "0.", "1.", ".5e", "0x", "0b", "0o")) + integer_text(rng)
    if pick == 8:
        return json.dumps(json_value(rng, 2))
    return rng.choice(("nan", "NaN", "-nan", "inf", "Infinity", "-Infinity", "1e309", "-1e309", "4e-324"))


def time_text(rng: random.Random) -> str:
    """An ISO 8601-like time, its fields in or out of range, its zone odd or missing."""
    year = rng.choice((rng.randint(1969, 2100), rng.randint(0, 99_999), 2024))
    fields = [
        rng.randint(0, 14),
        rng.randint(0, 33),
        rng.randint(0, 25),
        rng.randint(0, 61),
        rng.randint(0, 61),
    ]
    zone = rng.choice(("Z", "", "+00:00", "-23:59", "+24:00", "z", " UTC", "+5"))
    fraction = rng.choice(("", ".5", "." + "9" * rng.randint(1, 30)))
    month, day, hour, minute, second = fields
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"


def garbage(rng: random.Random, length: int) -> str:
    """Random text from printable ASCII and the hostile characters."""
    alphabet = HOSTILE_CHARACTERS + "abcxyzABC0123456789"
    return "".join(rng.choices(alphabet, k=length))


def json_value(rng: random.Random, depth: int = 1) -> Any:
    """Any JSON value: a scalar of each type, or a small container of them."""
    pick = rng.randrange(9 if depth > 0 else 7)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice((True, False))
    if pick == 2:
        return rng.choice((-1, 1)) * 2 ** rng.choice(BITS) + rng.randint(-2, 2)
    if pick == 3:
        return rng.randint(-(10**9), 10**9)
    if pick == 4:
        return rng.uniform(-1e300, 1e300) if rng.random() < 0.5 else rng.random()
    if pick in (5, 6):
        return number_text(rng) if depth > 0 else integer_text(rng)
    if pick == 7:
        return [json_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {garbage(rng, rng.randint(0, 8)): json_value(rng, depth - 1) for _ in range(rng.randint(0, 3))}


def replacement(rng: random.Random) -> Any:
    """What a leaf of a parameter file or a case becomes: mostly text (the files
    write numbers as strings), sometimes a JSON value of another type."""
    return number_text(rng) if rng.random() < 0.7 else json_value(rng)


# --- edits of a JSON document -------------------------------------------------------------------


def _walk(data: Any, rng: random.Random, leaf: bool) -> tuple[Any, Any, str] | None:
    """A random (container, key) inside ``data`` and its path; a leaf when asked."""
    node, key, path = None, None, []
    current = data
    while isinstance(current, dict | list) and current:
        chosen = rng.choice(sorted(current)) if isinstance(current, dict) else rng.randrange(len(current))
        node, key = current, chosen
        path.append(str(chosen))
        current = current[chosen]
        if not leaf and rng.random() < 0.3:
            break
    return None if node is None else (node, key, ".".join(path))


def edit_json(data: Any, rng: random.Random) -> str:
    """One edit in place: a leaf replaced, a key dropped or added, a list entry
    dropped, repeated or swapped, a container replaced; returns what it did."""
    pick = rng.randrange(6)
    found = _walk(data, rng, leaf=pick == 0)
    if found is None:
        return "nothing"
    node, key, where = found
    if pick in (0, 1):
        node[key] = replacement(rng)
        return f"set {where}"
    if pick == 2:
        del node[key]
        return f"drop {where}"
    if pick == 3 and isinstance(node, dict):
        node[rng.choice((garbage(rng, rng.randint(1, 12)), "extra", key + "_"))] = json_value(rng)
        return f"add beside {where}"
    if pick == 3:
        node.insert(rng.randrange(len(node) + 1), node[key])
        return f"repeat {where}"
    if pick == 4 and isinstance(node, list) and len(node) > 1:
        other = rng.randrange(len(node))
        node[key], node[other] = node[other], node[key]
        return f"swap {where}"
    node[key] = rng.choice(([], {}, None, [node[key]], {"value": node[key]}))
    return f"wrap {where}"


def edit_text(text: str, rng: random.Random) -> tuple[str, str]:
    """One edit of the text itself: cut, a character changed, inserted or doubled."""
    if not text:
        return garbage(rng, 3), "text replaced"
    where = rng.randrange(len(text))
    pick = rng.randrange(5)
    if pick == 0:
        return text[:where], f"cut at {where}"
    if pick == 1:
        return text[:where] + garbage(rng, 1) + text[where + 1 :], f"char at {where}"
    if pick == 2:
        return text[:where] + garbage(rng, rng.randint(1, 20)) + text[where:], f"insert at {where}"
    if pick == 3:
        end = min(len(text), where + rng.randint(1, 200))
        return text[:end] + text[where:end] * rng.randint(1, 50) + text[end:], f"repeat at {where}"
    return text[:where] + text[where + rng.randint(1, 50) :], f"delete at {where}"


def damaged_json(data: Any, rng: random.Random) -> tuple[str, str]:
    """``data`` with 1..3 edits, as JSON text (now and then damaged as text too)."""
    edits = [edit_json(data, rng) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    text = json.dumps(data, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.15:
        text, what = edit_text(text, rng)
        edits.append(what)
    return text, "; ".join(edits)
