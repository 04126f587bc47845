"""Answers on a terminal: the markdown rendered with rich as it streams; plain text elsewhere.

On a TTY, ``ask`` and ``chat`` show headings, code blocks with syntax colour, quotes and links
(their URL kept visible, so it can be copied from any terminal). Piped output, ``--json`` and
``--raw`` keep the markdown exactly as the model wrote it, for scripts and other renderers.

    with LiveAnswer(Console()) as live:
        for delta in deltas:
            live.feed(delta)
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown

CODE_THEME = "monokai"
REFRESH_PER_SECOND = 8


def should_render(stream: TextIO, raw: bool = False) -> bool:
    """Render only for a person at a terminal: not with ``--raw``, not into a pipe or file."""
    if raw:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def markdown(text: str) -> Markdown:
    """The answer as rich markdown: link URLs shown after their text, code in ``CODE_THEME``."""
    return Markdown(text, code_theme=CODE_THEME, hyperlinks=False)


def terminal_console(stream: TextIO | None = None) -> Console:
    """A console for an answer on the terminal (``stream`` defaults to stdout)."""
    return Console(file=stream, soft_wrap=False, highlight=False)


class LiveAnswer:
    """Streamed markdown in a :class:`rich.live.Live` view, re-rendered as deltas arrive.

    The view starts with the first piece of text (lines printed before it, such as the route,
    stay above it). While streaming, an answer taller than the terminal shows its top with an
    ellipsis; when the view closes (also on an error or Ctrl-C) the whole answer is printed in
    full, once. On a console that is not a terminal only that final render is written.
    """

    def __init__(self, console: Console, *, refresh_per_second: float = REFRESH_PER_SECOND):
        self.console = console
        self.text = ""
        self._live = Live(console=console, refresh_per_second=refresh_per_second,
                          vertical_overflow="ellipsis", transient=False,
                          redirect_stdout=False, redirect_stderr=False)
        self._started = False

    def __enter__(self) -> LiveAnswer:
        return self

    def feed(self, delta: str) -> None:
        """Add a piece of the answer; the view catches up at its next refresh."""
        if not delta:
            return
        self.text += delta
        self._live.update(markdown(self.text))
        if not self._started:
            self._live.start()
            self._started = True

    def close(self) -> None:
        """Show the whole answer (rich makes the overflow visible when the view stops)."""
        if self._started:
            self._live.update(markdown(self.text))
            self._live.stop()
            self._started = False

    def __exit__(self, *exc: object) -> None:
        self.close()
