"""Per-session chat history, bounded by tokens, and follow-up queries without an LLM.

Sessions are kept in memory (the socket server has one per connection or chat). The oldest turns
are dropped first once a session's history passes its token budget, so a long chat never grows
the prompt, or the server's memory, without bound.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from .languages import slash_command
from .tokens import encoding

_STOP = frozenset(
    "a an and are as at be but by can could do does did for from how i if in into is it its me my "
    "of on or our please should so that the their them then there these they this to us use using "
    "was we what when where which who why will with would you your ok okay now also just too "
    "again same one each any all get got make need want like".split()
)
_WORD = re.compile(r"[A-Za-z_][\w.\-/@]*")


def key_terms(text: str, limit: int = 12) -> str:
    """The content words of a turn (slash command removed): a follow-up's missing topic."""
    found = slash_command(text)
    if found:
        text = text.lstrip()[len(found[1]):]
    words = [w for w in _WORD.findall(text) if w.lower() not in _STOP]
    return " ".join(dict.fromkeys(words[:limit]))


_REFERS = frozenset(
    "it its them they their that this these those there instead same again another else "
    "one ones".split()
)


def leans_on_history(question: str) -> bool:
    """Whether a question needs the conversation's topic: it refers back ("delete it", "the same
    in Java", "instead") or has at most two words of its own. "compare blob upload in Java and
    in C#" does neither, so it is searched as asked, whatever came before it.

    >>> leans_on_history("and list them?"), leans_on_history("compare blob upload in Java")
    (True, False)
    """
    words = [w.lower() for w in _WORD.findall(question)]
    if any(w in _REFERS for w in words):
        return True
    return len(key_terms(question).split()) <= 2


_CLIENT = re.compile(r"\b[A-Z][A-Za-z]*Client\b")


def topic_terms(messages: list[BaseMessage], want: int = 6, max_turns: int = 4) -> str:
    """What a follow-up ("and deleting them?") leaves out: the conversation's recent topic.

    Walks back from the newest turn, taking user turns' key terms and the client classes named
    in assistant answers, until ``want`` terms are found: "how about in C#?" has no topic of
    its own, so the turn before it supplies one.
    """
    terms: list[str] = []
    for message in list(reversed(messages))[: max_turns * 2]:
        if message.type == "human":
            terms.extend(key_terms(message.text).split())
        else:
            terms.extend(_CLIENT.findall(message.text)[:2])
        if len(dict.fromkeys(terms)) >= want:
            break
    return " ".join(dict.fromkeys(terms))


def count_tokens(messages: list[BaseMessage]) -> int:
    enc = encoding()
    return sum(len(enc.encode(m.text, disallowed_special=())) + 4 for m in messages)


@dataclass
class Session:
    """One chat: its messages (oldest first) and the languages of its latest routed turn."""

    messages: list[BaseMessage] = field(default_factory=list)
    languages: tuple[str, ...] = ()

    def as_dicts(self) -> list[dict[str, str]]:
        return [{"role": "user" if m.type == "human" else "assistant", "content": m.text}
                for m in self.messages]


class SessionStore:
    """Sessions by id, each bounded by ``max_tokens``; at most ``max_sessions`` kept (LRU)."""

    def __init__(self, max_tokens: int = 2000, max_sessions: int = 1000):
        self.max_tokens = max_tokens
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.pop(session_id, None) or Session()
            self._sessions[session_id] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            return session

    def add_turn(self, session_id: str, question: str, answer: str,
                 languages: tuple[str, ...]) -> None:
        session = self.get(session_id)
        with self._lock:
            session.messages.extend([HumanMessage(question), AIMessage(answer)])
            session.languages = languages
            while len(session.messages) > 2 and count_tokens(session.messages) > self.max_tokens:
                del session.messages[:2]
            if count_tokens(session.messages) > self.max_tokens:
                session.messages[:] = self._cut_turn(question, answer)

    def _cut_turn(self, question: str, answer: str) -> list[BaseMessage]:
        """A single turn over budget: the question cut to half of it at most, the answer to the
        rest; nothing when the budget cannot hold a turn at all (``history_tokens=0``)."""
        enc = encoding()
        room = self.max_tokens - 16  # two messages' overhead, and a margin for re-encoding
        if room < 2:
            return []
        q = enc.encode(question, disallowed_special=())
        a = enc.encode(answer, disallowed_special=())
        q = q[: max(room // 2, room - len(a))]
        return [HumanMessage(enc.decode(q)), AIMessage(enc.decode(a[: room - len(q)]))]

    def scratch(self, turns: Sequence[tuple[str, str]]) -> Session:
        """A session built from a client's own transcript (``(role, text)``, oldest first),
        under the same token budget, kept nowhere: for clients that send their history.

            store.scratch([("user", "upload a blob?"), ("assistant", "Use BlobClient...")])
        """
        scratch = SessionStore(self.max_tokens, 1)
        question: str | None = None
        for role, text in turns:
            if role == "user":
                if question is not None:
                    scratch.add_turn("", question, "", ())
                question = text
            else:
                scratch.add_turn("", question or "", text, ())
                question = None
        if question is not None:
            scratch.add_turn("", question, "", ())
        return scratch.get("")

    def reset(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)
