"""Progress display: bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from neurotwin.pipeline._progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(2, 3, mode="auto", stream=stream)
    bar.start("sub-01")
    bar.step("bandpass")
    bar.finish("sub-01", "ok", "3 steps run")
    bar.finish("sub-02", "failed", "bad.edf: truncated")
    bar.close()
    assert stream.getvalue().splitlines() == [
        "[1/2] sub-01: ok (3 steps run)",
        "[2/2] sub-02: failed (bad.edf: truncated)",
    ]


def test_bars_on_a_terminal():
    stream = _Terminal()
    bar = Progress(2, 3, mode="auto", stream=stream)
    assert bar.mode == "bar"
    bar.start("sub-01")
    bar.step("bandpass")
    bar.finish("sub-01", "ok")
    bar.close()
    text = stream.getvalue()
    assert "subjects" in text and "1/2" in text and "sub-01" in text


def test_off_is_silent():
    stream = io.StringIO()
    bar = Progress(1, 1, mode="off", stream=stream)
    bar.finish("sub-01", "ok")
    bar.close()
    assert stream.getvalue() == ""
