"""Tests of the shared figure style and the report's packing: colours, ticks, 7-bit payloads."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

from hpbench.results import bundle, style


def test_builtin_colours_fixed_and_hashed_ones_stable_across_processes():
    assert style.searcher_colors(["hyperband", "random"])["hyperband"] == "#D55E00"
    assert style.searcher_colors(["hyperband", "a", "b", "c"])["hyperband"] == "#D55E00"
    assert style.searcher_colors(["random"])["random"] == style.BASELINE_COLOUR
    # a hashed label gets the same colour in another interpreter (str hash is salted per process)
    code = "from hpbench.results.style import searcher_color; print(searcher_color('my-searcher:x=1'))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert other.stdout.strip() == style.searcher_color("my-searcher:x=1")


def test_colours_distinct_within_a_report_even_on_hash_collisions():
    labels = [f"custom-{i}" for i in range(20)] + list(style.BUILTIN_COLOURS)
    colours = style.searcher_colors(labels)
    assert len(set(colours.values())) == len(labels)  # 35 labels, 35 colours
    for name, c in style.BUILTIN_COLOURS.items():
        assert colours[name] == c


@pytest.mark.parametrize(
    ("lo", "hi", "labels"),
    [
        (
            3e-5,
            2.0,
            ["10<sup>−4</sup>", "10<sup>−3</sup>", "10<sup>−2</sup>", "10<sup>−1</sup>", "10<sup>0</sup>"],
        ),
        (0.15, 0.9, ["2×10<sup>−1</sup>", "5×10<sup>−1</sup>"]),  # under a decade: 2x and 5x, in full
    ],
)
def test_log_ticks_are_decades_in_paper_notation(lo, hi, labels):
    vals, text = style.log_ticks(lo, hi)
    assert text == labels
    assert all(lo <= v <= hi for v in vals)
    assert not any(t in ("2", "5", "100µ") for t in text)


def test_log_ticks_at_most_eight_labels_and_whole_decades():
    vals, _ = style.log_ticks(1e-12, 1e12)
    assert len(vals) <= 9
    assert np.allclose(np.log10(vals), np.round(np.log10(vals)))


def test_linear_ticks_round_values_covering_the_range():
    assert style.linear_ticks(0.0, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert style.linear_ticks(2, 64) == [20.0, 40.0, 60.0]


@pytest.mark.parametrize("data", [b"", b"\x00", b"<", b"\r\r\r", bytes(range(256)) * 5, os.urandom(3001)])
def test_encode7_round_trips_and_is_safe_in_a_script_block(data):
    text = bundle.encode7(data)
    assert bundle.decode7(text, len(data)) == data
    assert not set(text) & {"\x00", "\r", "<"}
    assert len(text.encode("utf-8")) <= len(data) * 8 / 7 * 1.05 + 2  # near the 8/7 overhead


def test_pack_is_gzip_underneath():
    data = b"hpbench " * 1000
    text, n = bundle.pack(data)
    assert gzip.decompress(bundle.decode7(text, n)) == data and n < len(data) / 20
