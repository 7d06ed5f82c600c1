"""jsonio: the JSON every derived view and store object goes through."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xdiag.core import jsonio


def test_same_value_as_the_stdlib_compact_and_key_sorted() -> None:
    value = {"b": [1, 2.5, -3e-7, 1e300, None, True, "é\u2603"], "a": {"z": 0, "y": [[]]},
             "c": 2**63 - 1}
    out = jsonio.dumps(value)
    assert json.loads(out) == value
    assert out.startswith(b'{"a":{"y":[[]],"z":0},"b":[')  # compact, keys sorted
    assert b" " not in out.replace("é\u2603".encode(), b"")
    assert jsonio.dumps(dict(reversed(list(value.items())))) == out  # order-independent


def test_numpy_scalars_and_tuples() -> None:
    out = jsonio.loads(jsonio.dumps({"i": np.int64(7), "f": np.float64(0.5), "t": (1, 2)}))
    assert out == {"i": 7, "f": 0.5, "t": [1, 2]}


def test_nan_becomes_null_so_browsers_can_parse_it() -> None:
    out = jsonio.dumps({"x": math.nan, "y": math.inf})
    assert out == b'{"x":null,"y":null}'


def test_what_orjson_refuses_goes_through_the_stdlib() -> None:
    big = {"n": 2**70, "s": "lone \ud800 surrogate"}
    out = jsonio.dumps(big)
    assert json.loads(out) == big
    assert jsonio.loads(out) == big


def test_loads_reads_what_the_stdlib_wrote_and_rejects_garbage() -> None:
    assert math.isnan(jsonio.loads(b'{"x": NaN}')["x"])  # older files
    assert jsonio.loads(memoryview(b'[1, 2]')) == [1, 2]
    with pytest.raises(ValueError):
        jsonio.loads(b'{"x": ')
