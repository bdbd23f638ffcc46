"""Test helper: read the traces back out of a plotly HTML page (``Plotly.newPlot`` calls, base64 arrays decoded)."""

from __future__ import annotations

import base64
import json
import re

import numpy as np

_NEWPLOT = re.compile(r'Plotly\.newPlot\(\s*"[^"]+",\s*')


def _decode(obj):
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            if "shape" in obj:
                arr = arr.reshape([int(s) for s in str(obj["shape"]).split(",")])
            return arr
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def figures_in_html(text: str) -> list[list[dict]]:
    """One list of trace dicts per figure on the page, in page order; typed arrays come back as numpy arrays."""
    out = []
    decoder = json.JSONDecoder()
    for m in _NEWPLOT.finditer(text):
        traces, _ = decoder.raw_decode(text, m.end())
        out.append(_decode(traces))
    return out
