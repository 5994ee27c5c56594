"""Stage progress: plain lines when not on a terminal, a bar on one, the log when no stream is chosen."""

from __future__ import annotations

import io
import logging

from packaging_pipeline.core import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_it_prints_a_line_every_interval_and_one_at_the_end():
    out = io.StringIO()
    with progress.to_stream(out, every_s=0.0), progress.track("right-sizing", 3, "orders") as done:
        for _ in range(3):
            done.advance()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("right-sizing: 1/3 orders (33%) after ")
    assert lines[-1].startswith("right-sizing: 3/3 orders (100%) after ") and lines[-1].endswith(", done")
    assert len(lines) == 4


def test_on_a_terminal_it_draws_a_bar():
    out = _Terminal()
    with progress.to_stream(out), progress.track("composing designs", 4, "designs") as done:
        done.advance(4)
    assert "composing designs" in out.getvalue() and "4/4" in out.getvalue()


def test_without_a_stream_it_logs_and_prints_nothing(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="packaging_pipeline.core.progress"):
        with progress.track("training the pattern GAN", 2, "epochs") as done:
            done.advance(2)
    assert capsys.readouterr() == ("", "")
    assert caplog.messages[-1].startswith("training the pattern GAN: 2/2 epochs (100%) after ")
