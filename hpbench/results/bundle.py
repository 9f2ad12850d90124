"""Packing plotly.js and the figures into the report: compressed, text-safe, fully offline.

plotly.js is 4.8 MB of the report; gzip brings it to 1.5 MB, and the browser inflates it
itself with ``DecompressionStream`` (Chrome/Edge 80+, Firefox 113+, Safari 16.4+), so the
page still needs no network and no other file. The figures' JSON travels the same way.

The compressed bytes are stored in a ``<script type="application/x-hpbench">`` block as
text, 7 bits per character (an overhead of 8/7, against base64's 4/3): a 7-bit value that
must not appear raw in an HTML script block (NUL, CR, ``<``) is written together with the
next 7-bit value as one two-byte UTF-8 character, ``U+0080 + 128 * i + next`` where ``i``
indexes the forbidden value. :data:`DECODER_JS` reverses it in the page.
"""

from __future__ import annotations

import functools
import gzip

import numpy as np

__all__ = ["encode7", "decode7", "pack", "plotly_payload", "DECODER_JS", "LOADER_JS"]

_FORBIDDEN = (0, 13, 60)  # NUL, CR (the HTML parser rewrites both), '<' (could close the block)


def encode7(data: bytes) -> str:
    """Bytes -> text of 7-bit characters safe inside an HTML script block (see module doc).

    Args:
        data: any bytes.

    Returns:
        The text; :func:`decode7` (or the page's decoder) with ``len(data)`` gives ``data`` back.
    """
    if not data:
        return ""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    bits = np.r_[bits, np.zeros(-len(bits) % 7, dtype=np.uint8)]
    b7 = bits.reshape(-1, 7)
    values = np.zeros(len(b7), dtype=np.int64)
    for k in range(7):
        values = (values << 1) | b7[:, k]
    codes = values.copy()
    keep = np.ones(len(codes), dtype=bool)
    bad = np.flatnonzero(np.isin(values, _FORBIDDEN))
    skip_until = -1
    vals = values.tolist()
    for i in bad.tolist():  # sequential: a forbidden value swallows the next one, whatever it is
        if i <= skip_until:
            continue
        nxt = vals[i + 1] if i + 1 < len(vals) else 0
        codes[i] = 128 + 128 * _FORBIDDEN.index(vals[i]) + nxt
        if i + 1 < len(vals):
            keep[i + 1] = False
        skip_until = i + 1
    return codes[keep].astype("<u4").tobytes().decode("utf-32-le")


def decode7(text: str, n: int) -> bytes:
    """The inverse of :func:`encode7` (the page runs the same steps in :data:`DECODER_JS`)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)
    high = codes >= 128
    pos = np.arange(len(codes)) + np.r_[0, np.cumsum(high)[:-1]]  # where each character's value goes
    values = np.empty(len(codes) + int(high.sum()), dtype=np.uint8)
    values[pos] = np.where(high, np.array(_FORBIDDEN)[(np.maximum(codes, 128) - 128) >> 7], codes)
    values[pos[high] + 1] = (codes[high] - 128) & 127
    bits = np.unpackbits(values[:, None], axis=1)[:, 1:].ravel()  # 7 bits each, MSB first
    return np.packbits(bits[: 8 * n]).tobytes()[:n]


def pack(data: bytes) -> tuple[str, int]:
    """gzip then :func:`encode7`: (text, number of compressed bytes)."""
    raw = gzip.compress(data, compresslevel=9, mtime=0)
    return encode7(raw), len(raw)


@functools.lru_cache(maxsize=1)
def plotly_payload() -> tuple[str, int]:
    """The installed plotly.js, packed once per process (about 0.5 s)."""
    from plotly.offline import get_plotlyjs

    return pack(get_plotlyjs().encode("utf-8"))


DECODER_JS = (
    "function hpbDecode(s,n){var out=new Uint8Array(n),acc=0,bits=0,o=0,F=[0,13,60];"
    "function put(v){acc=(acc<<7)|v;bits+=7;if(bits>=8){bits-=8;if(o<n){out[o++]=(acc>>bits)&255;}"
    "acc&=(1<<bits)-1;}}"
    "for(var i=0;i<s.length&&o<n;i++){var c=s.charCodeAt(i);if(c<128){put(c);}else{c-=128;"
    "put(F[c>>7]);put(c&127);}}return out;}"
)

# Inflates plotly.js, runs it, then draws every figure; marks <body data-hpbench="rendered">
# when done (tests wait for it), or shows one line saying why it could not.
LOADER_JS = """
(async function(){
  function block(id){var e=document.getElementById(id);return hpbDecode(e.textContent,+e.dataset.length);}
  async function inflate(u8){
    var s=new Blob([u8]).stream().pipeThrough(new DecompressionStream('gzip'));
    return await new Response(s).text();
  }
  try {
    if (typeof DecompressionStream === 'undefined') {
      throw new Error('this browser has no DecompressionStream '
        + '(needs Chrome 80, Firefox 113, Safari 16.4 or later)');
    }
    var code = await inflate(block('hpb-plotly'));
    var sc = document.createElement('script'); sc.text = code; document.head.appendChild(sc);
    var figs = JSON.parse(await inflate(block('hpb-figures')));
    for (var i = 0; i < figs.length; i++) {
      var f = figs[i];
      await Plotly.newPlot(f.id, f.data, f.layout, f.config);
    }
    document.querySelectorAll('.plotly-graph-div').forEach(function(d){Plotly.Plots.resize(d);});
    document.body.dataset.hpbench = 'rendered';
  } catch (err) {
    var p = document.createElement('p'); p.className = 'loaderror';
    p.textContent = 'The figures could not be drawn: ' + err;
    document.body.insertBefore(p, document.body.firstChild);
    document.body.dataset.hpbench = 'failed';
    console.error(err);
  }
})();
"""
