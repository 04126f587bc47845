"""The terminal look of an answer: rich renders the streamed markdown (headings, code with syntax
colour, quotes, links with their URL) on a fixed-width console; everything else stays plain.

The expected text is what an 80-column terminal shows (checked by eye in tmux, see
docs/reliability.md); the styles are checked on the rendered segments.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.segment import Segment

from azsdk_rag.render import LiveAnswer, markdown, should_render

URL = "https://github.com/Azure/x/README.md"
ANSWER = f"""_Extracted from the Azure SDK READMEs._

### `azure-storage-blob` (Python)

Install:

```bash
pip install azure-storage-blob
```

**Upload**, quoted from [Blobs for Python]({URL}):

> Upload a blob:
>
> ```python
> from azure.storage.blob import BlobClient
> client.upload_blob(data)
> ```

**Sources**

- [Blobs for Python]({URL}): `azure-storage-blob` (Python)
"""

EXPECTED = f"""\
Extracted from the Azure SDK READMEs.

azure-storage-blob (Python)

Install:


 pip install azure-storage-blob


Upload, quoted from Blobs for Python ({URL}):

▌ Upload a blob:
▌
▌  from azure.storage.blob import BlobClient
▌  client.upload_blob(data)
▌

Sources

 • Blobs for Python ({URL}): azure-storage-blob
   (Python)
"""


def recording_console() -> Console:
    return Console(record=True, width=80, file=io.StringIO(), color_system="truecolor")


def streamed(text: str, console: Console) -> str:
    """``text`` fed line by line, as the model streams it, then the view closed."""
    with LiveAnswer(console) as live:
        for piece in text.splitlines(keepends=True):
            live.feed(piece)
    assert live.text == text
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def test_a_streamed_answer_looks_like_this_on_an_80_column_terminal() -> None:
    assert streamed(ANSWER, recording_console()) == EXPECTED


def segments(text: str) -> list[Segment]:
    return list(recording_console().render(markdown(text)))


def styled(segs: list[Segment], word: str) -> list[Segment]:
    return [s for s in segs if word in s.text and s.style is not None]


def test_headings_code_and_links_are_styled() -> None:
    segs = segments(ANSWER)
    heading = styled(segs, "azure-storage-blob")[0].style
    assert heading.bold  # the H3, its code span included
    keyword, name = styled(segs, "import")[0].style, styled(segs, "BlobClient")[0].style
    assert keyword.color is not None and keyword.bgcolor is not None  # syntax colour, in a block
    assert keyword.color != name.color  # the keyword is coloured apart from the names
    assert styled(segs, "pip")[0].style.bgcolor is not None  # the bash block too
    link = styled(segs, URL)[0].style
    assert link.underline  # the URL is shown, styled as a link
    assert not [s for s in segs if "```" in s.text or s.text.startswith(">")]  # no raw markdown


def test_nothing_streamed_prints_nothing_and_an_error_mid_answer_keeps_what_was_shown() -> None:
    console = recording_console()
    with LiveAnswer(console):
        pass
    assert console.export_text() == ""

    with pytest.raises(RuntimeError), LiveAnswer(console) as live:
        live.feed("## Half an answer\n\nThe first")
        raise RuntimeError("the model broke off")
    assert console.export_text().split() == ["Half", "an", "answer", "The", "first"]


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_only_a_terminal_without_raw_gets_rendered_output() -> None:
    assert should_render(_Stream(True)) is True
    assert should_render(_Stream(True), raw=True) is False
    assert should_render(_Stream(False)) is False  # a pipe or a file
    closed = io.StringIO()
    closed.close()  # isatty() raises ValueError
    assert should_render(closed) is False
