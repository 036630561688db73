"""`Math.pow` exactly as V8 computes it: a port of fdlibm's `__ieee754_pow`.

V8 (so Node and Chromium, so the Adaptive Cards Designer) computes `x ** y` with fdlibm's
algorithm, which is not correctly rounded: `100 ^ -2.5` is 9.999999999999999e-06 there, while
Python's `math.pow` (the C library) gives 1e-05. To render `^` and `exp()` like the Designer we
use the same algorithm, step by step, on the same doubles.

Ported from V8's `legacy::pow` in src/base/ieee754.cc, itself adapted from fdlibm e_pow.c:

    ====================================================
    Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.

    Developed at SunPro, a Sun Microsystems, Inc. business.
    Permission to use, copy, modify, and distribute this
    software is freely granted, provided that this notice
    is preserved.
    ====================================================
"""

from __future__ import annotations

import math
import struct
from typing import Final

_BP: Final = (1.0, 1.5)
_DP_H: Final = (0.0, 5.84962487220764160156e-01)
_DP_L: Final = (0.0, 1.35003920212974897128e-08)
_TWO53: Final = 9007199254740992.0
_HUGE: Final = 1.0e300
_TINY: Final = 1.0e-300
_L1: Final = 5.99999999999994648725e-01
_L2: Final = 4.28571428578550184252e-01
_L3: Final = 3.33333329818377432918e-01
_L4: Final = 2.72728123808534006489e-01
_L5: Final = 2.30660745775561754067e-01
_L6: Final = 2.06975017800338417784e-01
_P1: Final = 1.66666666666666019037e-01
_P2: Final = -2.77777777770155933842e-03
_P3: Final = 6.61375632143793436117e-05
_P4: Final = -1.65339022054652515390e-06
_P5: Final = 4.13813679705723846039e-08
_LG2: Final = 6.93147180559945286227e-01
_LG2_H: Final = 6.93147182464599609375e-01
_LG2_L: Final = -1.90465429995776804525e-09
_OVT: Final = 8.0085662595372944372e-17
_CP: Final = 9.61796693925975554329e-01
_CP_H: Final = 9.61796700954437255859e-01
_CP_L: Final = -7.02846165095275826516e-09
_IVLN2: Final = 1.44269504088896338700e00
_IVLN2_H: Final = 1.44269502162933349609e00
_IVLN2_L: Final = 1.92596299112661746887e-08


def _bits(value: float) -> int:
    bits: int = struct.unpack("<Q", struct.pack("<d", value))[0]
    return bits


def _float(bits: int) -> float:
    value: float = struct.unpack("<d", struct.pack("<Q", bits & 0xFFFFFFFFFFFFFFFF))[0]
    return value


def _high(value: float) -> int:
    """The signed high 32-bit word of a double."""
    high = _bits(value) >> 32
    return high - (1 << 32) if high & 0x80000000 else high


def _low(value: float) -> int:
    """The unsigned low 32-bit word of a double."""
    return _bits(value) & 0xFFFFFFFF


def _clear_low(value: float) -> float:
    return _float(_bits(value) & 0xFFFFFFFF00000000)


def _with_high(value: float, high: int) -> float:
    return _float(((high & 0xFFFFFFFF) << 32) | (_bits(value) & 0xFFFFFFFF))


def _divide(numerator: float, denominator: float) -> float:
    """IEEE division (C and JavaScript): dividing by zero gives an infinity or NaN, no error."""
    if denominator != 0:
        return numerator / denominator
    if numerator == 0 or math.isnan(numerator):
        return math.nan
    negative = (numerator < 0) != (math.copysign(1.0, denominator) < 0)
    return -math.inf if negative else math.inf


def js_pow(x: float, y: float) -> float:
    """`Math.pow(x, y)` bit for bit as V8 returns it."""
    if math.isnan(y) or (math.isinf(y) and abs(x) == 1.0):
        return math.nan  # ECMAScript: 1 ** ±Infinity and anything ** NaN are NaN
    hx, lx = _high(x), _low(x)
    hy, ly = _high(y), _low(y)
    ix, iy = hx & 0x7FFFFFFF, hy & 0x7FFFFFFF

    if (iy | ly) == 0:
        return 1.0
    if math.isnan(x):
        return math.nan

    # yisint: 0 y is not an integer, 1 y is an odd integer, 2 y is an even integer (x < 0 only)
    yisint = 0
    if hx < 0:
        if iy >= 0x43400000:
            yisint = 2
        elif iy >= 0x3FF00000:
            k = (iy >> 20) - 0x3FF
            if k > 20:
                j = ly >> (52 - k)
                if ((j << (52 - k)) & 0xFFFFFFFF) == ly:
                    yisint = 2 - (j & 1)
            elif ly == 0:
                j = iy >> (20 - k)
                if (j << (20 - k)) == iy:
                    yisint = 2 - (j & 1)

    if ly == 0:
        if iy == 0x7FF00000:  # y is ±inf
            if ix >= 0x3FF00000:
                return y if hy >= 0 else 0.0
            return -y if hy < 0 else 0.0
        if iy == 0x3FF00000:  # y is ±1
            return _divide(1.0, x) if hy < 0 else x
        if hy == 0x40000000:  # y is 2
            return x * x
        if hy == 0x3FE00000 and hx >= 0:  # y is 0.5
            return math.sqrt(x)

    ax = abs(x)
    if lx == 0 and (ix == 0x7FF00000 or ix == 0 or ix == 0x3FF00000):
        z = ax  # x is ±0, ±inf, ±1
        if hy < 0:
            z = _divide(1.0, z)
        if hx < 0:
            if ((ix - 0x3FF00000) | yisint) == 0:
                z = math.nan
            elif yisint == 1:
                z = -z
        return z

    n = (hx >> 31) + 1
    if (n | yisint) == 0:
        return math.nan  # (x < 0) ** non-integer

    sign = -1.0 if (n | (yisint - 1)) == 0 else 1.0

    if iy > 0x41E00000:  # |y| > 2**31
        if iy > 0x43F00000:  # |y| > 2**64
            if ix <= 0x3FEFFFFF:
                return math.inf if hy < 0 else 0.0
            if ix >= 0x3FF00000:
                return math.inf if hy > 0 else 0.0
        if ix < 0x3FEFFFFF:
            return sign * math.inf if hy < 0 else sign * 0.0
        if ix > 0x3FF00000:
            return sign * math.inf if hy > 0 else sign * 0.0
        t = ax - 1.0
        w = (t * t) * (0.5 - t * (0.3333333333333333333333 - t * 0.25))
        u = _IVLN2_H * t
        v = t * _IVLN2_L - w * _IVLN2
        t1 = _clear_low(u + v)
        t2 = v - (t1 - u)
    else:
        n = 0
        if ix < 0x00100000:  # subnormal x
            ax *= _TWO53
            n -= 53
            ix = _high(ax)
        n += (ix >> 20) - 0x3FF
        j = ix & 0x000FFFFF
        ix = j | 0x3FF00000
        if j <= 0x3988E:
            k = 0
        elif j < 0xBB67A:
            k = 1
        else:
            k = 0
            n += 1
            ix -= 0x00100000
        ax = _with_high(ax, ix)

        u = ax - _BP[k]
        v = 1.0 / (ax + _BP[k])
        ss = u * v
        s_h = _clear_low(ss)
        t_h = _with_high(0.0, ((ix >> 1) | 0x20000000) + 0x00080000 + (k << 18))
        t_l = ax - (t_h - _BP[k])
        s_l = v * ((u - s_h * t_h) - s_h * t_l)
        s2 = ss * ss
        r = s2 * s2 * (_L1 + s2 * (_L2 + s2 * (_L3 + s2 * (_L4 + s2 * (_L5 + s2 * _L6)))))
        r += s_l * (s_h + ss)
        s2 = s_h * s_h
        t_h = _clear_low(3.0 + s2 + r)
        t_l = r - ((t_h - 3.0) - s2)
        u = s_h * t_h
        v = s_l * t_h + t_l * ss
        p_h = _clear_low(u + v)
        p_l = v - (p_h - u)
        z_h = _CP_H * p_h
        z_l = _CP_L * p_h + p_l * _CP + _DP_L[k]
        t = float(n)
        t1 = _clear_low(((z_h + z_l) + _DP_H[k]) + t)
        t2 = z_l - (((t1 - t) - _DP_H[k]) - z_h)

    y1 = _clear_low(y)
    p_l = (y - y1) * t1 + y * t2
    p_h = y1 * t1
    z = p_l + p_h
    j, i = _high(z), _low(z)
    if j >= 0x40900000:  # z >= 1024
        if ((j - 0x40900000) | i) != 0 or p_l + _OVT > z - p_h:
            return sign * math.inf
    elif (j & 0x7FFFFFFF) >= 0x4090CC00 and (  # z <= -1075
        (((j - 0xC090CC00) & 0xFFFFFFFF) | i) != 0 or p_l <= z - p_h
    ):
        return sign * 0.0

    i = j & 0x7FFFFFFF
    k = (i >> 20) - 0x3FF
    n = 0
    if i > 0x3FE00000:  # |z| > 0.5: n = [z + 0.5]
        n = j + (0x00100000 >> (k + 1))
        k = ((n & 0x7FFFFFFF) >> 20) - 0x3FF
        t = _with_high(0.0, n & ~(0x000FFFFF >> k))
        n = ((n & 0x000FFFFF) | 0x00100000) >> (20 - k)
        if j < 0:
            n = -n
        p_h -= t
    t = _clear_low(p_l + p_h)
    u = t * _LG2_H
    v = (p_l - (t - p_h)) * _LG2 + t * _LG2_L
    z = u + v
    w = v - (z - u)
    t = z * z
    t1 = z - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    # V8 groups this differently from fdlibm's `(z*t1)/(t1-two)-(w+z*w)`; we follow V8.
    r = _divide(z * t1, (t1 - 2.0) - (w + z * w))
    z = 1.0 - (r - z)
    high = _high(z) + (n << 20)
    z = math.ldexp(z, n) if (high >> 20) <= 0 else _with_high(z, high)  # subnormal or not
    return sign * z
