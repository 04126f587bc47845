"""The tokenizer that every token budget is counted in (tiktoken's ``cl100k_base``).

At the bottom of the layers: the chunker, the prompt's context and the session history all
count tokens the same way, and none of them needs the others for it.

    >>> len(encoding().encode("upload a blob"))
    3
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken

DEFAULT_ENCODING = "cl100k_base"


@lru_cache(maxsize=4)
def encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """tiktoken's encoding ``name``, loaded once (offline from ``TIKTOKEN_CACHE_DIR``)."""
    return tiktoken.get_encoding(name)
