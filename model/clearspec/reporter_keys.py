"""Which ed25519 public keys may register as reporters (spec: parameters.md, PAR-2; oracle.md, ORA-2).

A key is accepted only if it is the canonical encoding (RFC 8032, 5.1.2) of a
point of the curve that lies in the prime-order subgroup. That excludes the
eight small-order points (among them the identity and the all-zero key), under
which a signature ``(R = identity, S = 0)`` verifies for every message, and
keys with a small-order component, on which cofactored and cofactorless
verifiers disagree. The check runs once per parameter set, on concrete bytes;
the arithmetic is on Python integers, reduced through the kernel.
"""

from __future__ import annotations

import functools

from clearspec import kernel as k

P = 2**255 - 19  # the field prime
L = 2**252 + 27742317777372353535851937790883648493  # the prime order of the base point's group
COFACTOR = 8


def _mod(a: int) -> int:
    return k.mod_floor(a, P)


def _inverse(a: int) -> int:
    return pow(a, P - 2, P)


D = _mod(-121665 * _inverse(121666))  # the curve constant d of edwards25519
SQRT_MINUS_ONE = pow(2, (P - 1) >> 2, P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z
IDENTITY: Point = (0, 1, 1, 0)


def _add(a: Point, b: Point) -> Point:
    """RFC 8032, 5.1.4: the unified addition law (it doubles too)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    first = _mod((y1 - x1) * (y2 - x2))
    second = _mod((y1 + x1) * (y2 + x2))
    c = _mod(2 * D * t1 * t2)
    d = _mod(2 * z1 * z2)
    e, f, g, h = second - first, d - c, d + c, second + first
    return (_mod(e * f), _mod(g * h), _mod(f * g), _mod(e * h))


def multiply(scalar: int, point: Point) -> Point:
    """``[scalar] point`` for ``scalar >= 0``, by double-and-add."""
    result = IDENTITY
    for bit in bin(scalar)[2:]:
        result = _add(result, result)
        if bit == "1":
            result = _add(result, point)
    return result


def is_identity(point: Point) -> bool:
    x, y, z, _ = point
    return _mod(x) == 0 and _mod(y - z) == 0


def decode(key: bytes) -> Point | str:
    """RFC 8032, 5.1.3, strict: the point ``key`` encodes, or why it is refused."""
    if len(key) != 32:
        return f"a public key is 32 bytes, got {len(key)}"
    sign = key[31] >> 7
    y = int.from_bytes(key, "little") & ((1 << 255) - 1)
    if y >= P:
        return "non-canonical encoding (y is not below the field prime)"
    u = _mod(y * y - 1)
    v = _mod(D * y * y + 1)
    x = _mod(u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) >> 3, P))
    if _mod(v * x * x - u) != 0:
        x = _mod(x * SQRT_MINUS_ONE)
        if _mod(v * x * x - u) != 0:
            return "not a point of the curve"
    if x == 0 and sign == 1:
        return "non-canonical encoding (x is 0 with the sign bit set)"
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, _mod(x * y))


@functools.lru_cache(maxsize=256)
def public_key_flaw(key: bytes) -> str | None:
    """PAR-2: why ``key`` may not register as a reporter key, or None when it may."""
    point = decode(key)
    if isinstance(point, str):
        return point
    if is_identity(multiply(COFACTOR, point)):
        return "small order (8 times the point is the identity)"
    if not is_identity(multiply(L, point)):
        return "not in the prime-order subgroup (it has a small-order component)"
    return None


def encode(point: Point) -> bytes:
    """RFC 8032, 5.1.2: the canonical encoding of ``point`` (tests build keys with it)."""
    x, y, z, _ = point
    inverse = _inverse(z)
    x, y = _mod(x * inverse), _mod(y * inverse)
    return (y | ((x & 1) << 255)).to_bytes(32, "little")
