"""The JSON-RPC methods' parameters as pydantic models, and their errors as one sentence each.

A model says what a method takes (types, sizes, what is required); :func:`parse` turns the first
thing wrong into ``-32602`` with a sentence naming the field (docs/protocol.md):

    parse(QuestionParams, {"question": "q", "sessionId": 5})
    # RpcError(-32602, "'sessionId' must be a string.")
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from azsdk_rag.languages import resolve_language
from azsdk_rag.server.rpc_messages import INVALID_PARAMS, PROTOCOL_VERSION, RpcError
from azsdk_rag.types import Hint

MAX_SESSION_CHARS = 200
MAX_LANGUAGE_CHARS = 64
MAX_MANIFESTS = 64
MAX_MANIFEST_CHARS = 260
MAX_HISTORY = 200
MAX_HISTORY_CHARS = 100_000  # one earlier answer (markdown with code) may be long

Model = TypeVar("Model", bound=BaseModel)


def _sentence(message: str) -> PydanticCustomError:
    """An error whose message is already the sentence the client gets."""
    return PydanticCustomError("rpc", "{sentence}", {"sentence": message})


def _unicode(value: str) -> str:
    """JSON may carry lone surrogates (``"\\ud800"``), which no UTF-8 consumer can take."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("string_unicode", "not Unicode") from None
    return value


# String parameters: strings only (no numbers as text), bounded, valid Unicode text.
Question = Annotated[StrictStr, AfterValidator(_unicode)]
SessionId = Annotated[StrictStr, Field(max_length=MAX_SESSION_CHARS), AfterValidator(_unicode)]
LanguageText = Annotated[StrictStr, Field(max_length=MAX_LANGUAGE_CHARS), AfterValidator(_unicode)]
ManifestName = Annotated[StrictStr, Field(max_length=MAX_MANIFEST_CHARS), AfterValidator(_unicode)]
HistoryText = Annotated[StrictStr, Field(max_length=MAX_HISTORY_CHARS), AfterValidator(_unicode)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class InitializeParams(_Params):
    protocolVersion: Any = None  # camelCase: the names on the wire
    token: Any = None
    """Checked against the server's token; anything but the right string is unauthorized."""

    def check_version(self) -> None:
        """``"1"``, the number ``1`` a client may send for it, or nothing (``true`` is no
        number here); raises -32602 naming the version this server speaks otherwise."""
        version = self.protocolVersion
        if version is None or version == PROTOCOL_VERSION or (
            isinstance(version, (int, float)) and not isinstance(version, bool)
            and version == int(PROTOCOL_VERSION)
        ):
            return
        shown = json.dumps(version, default=str)[:40]
        raise RpcError(
            INVALID_PARAMS,
            f"Unsupported protocolVersion {shown}: this server speaks protocol version "
            f'"{PROTOCOL_VERSION}" (send the string "{PROTOCOL_VERSION}", or leave it out).',
        )


class SessionParams(_Params):
    sessionId: SessionId | None = None  # camelCase: the names on the wire


def _manifest_list(value: Any) -> Any:
    """The list's shape first (all strings, not too many), then each name's size."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _sentence("'hint.manifests' must be an array of strings.")
    if len(value) > MAX_MANIFESTS:
        raise PydanticCustomError("too_long", "too long", {"max_length": MAX_MANIFESTS})
    return value


def _manifest_names(names: list[str]) -> list[str]:
    return [name.strip() for name in names if name.strip()]


class HintParams(_Params):
    """``{languageId?: string, manifests?: string[]}``: what the editor knows."""

    languageId: LanguageText | None = None
    manifests: Annotated[
        list[ManifestName], BeforeValidator(_manifest_list), AfterValidator(_manifest_names)
    ] | None = None

    def hint(self) -> Hint | None:
        """The router's :class:`Hint`; ``None`` when it says nothing (``{}``, blanks)."""
        hint = Hint((self.languageId or "").strip() or None, tuple(self.manifests or ()))
        return hint or None


class HistoryMessage(_Params):
    role: Literal["user", "assistant"]
    content: HistoryText


class QuestionParams(_Params):
    """``ask`` and ``retrieve``: ``question`` (at most ``max_question_chars``, from the
    validation context), and optionally ``language``, ``hint``, ``history``, ``sessionId``
    (checked in this order: the first one wrong is the one reported)."""

    question: Question
    language: LanguageText | None = None
    hint: HintParams | None = None
    history: Annotated[list[HistoryMessage], Field(max_length=MAX_HISTORY)] | None = None
    sessionId: SessionId | None = None

    @field_validator("question")
    @classmethod
    def _question(cls, value: str, info: ValidationInfo) -> str:
        limit = (info.context or {}).get("max_question_chars")
        if limit is not None and len(value) > limit:
            raise PydanticCustomError("string_too_long", "too long", {"max_length": limit})
        if not value.strip():
            raise _sentence("'question' is empty.")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        """A language id, name or slash command, as the language's id."""
        if value is None or not value.strip():
            return None
        try:
            return resolve_language(value.strip()).id
        except ValueError as exc:
            raise _sentence(str(exc)) from None

    def rag_options(self, session_id: str) -> dict[str, Any]:
        """The RAG's keyword arguments for this question in ``session_id``."""
        options: dict[str, Any] = {
            "session_id": session_id,
            "language": self.language,
            "hint": self.hint.hint() if self.hint is not None else None,
        }
        if self.history is not None:  # only then: a RAG without the keyword keeps working
            options["history"] = [(turn.role, turn.content) for turn in self.history]
        return options


# -- errors as sentences -------------------------------------------------------------------------

# Templates: {max_length} and {name} are filled in, so a literal brace is doubled.
_EACH_TURN = "Each 'history' item must be {{role: \"user\" or \"assistant\", content: string}}."
_MESSAGES: dict[tuple[tuple[str, ...], str], str] = {
    (("hint",), "model_type"): "'hint' must be an object.",
    (("hint", "manifests"), "too_long"): "'hint.manifests' has more than {max_length} items.",
    (("history",), "list_type"): "'history' must be an array of {{role, content}} objects.",
    (("history",), "too_long"): "'history' has more than {max_length} messages.",
    (("history", "[]"), "model_type"): _EACH_TURN,
    (("history", "[]", "role"), "missing"): _EACH_TURN,
    (("history", "[]", "role"), "literal_error"): _EACH_TURN,
}
_BY_TYPE = {
    "missing": "'{name}' is required and must be a string.",
    "string_type": "'{name}' must be a string.",
    "string_too_long": "'{name}' is longer than {max_length} characters.",
    "string_unicode": "'{name}' is not valid Unicode text.",
}


def _sentence_for(error: ErrorDetails) -> str:
    """One error of a model as the sentence the protocol promises, naming its field."""
    if error["type"] == "rpc":
        return error["msg"]
    where = tuple("[]" if isinstance(part, int) else str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "string_type" and error.get("input") is None:
        kind = "missing"  # null is the same as leaving it out
    name = "hint.manifests" if where[:2] == ("hint", "manifests") else where[-1]
    template = _MESSAGES.get((where, kind)) or _BY_TYPE.get(kind, "'{name}' is not valid.")
    return template.format(name=name, **(error.get("ctx") or {}))


def parse(model: type[Model], params: dict[str, Any], **context: Any) -> Model:
    """``params`` as ``model``, or :class:`RpcError` -32602 naming the first field wrong."""
    try:
        return model.model_validate(params, context=context)
    except ValidationError as exc:
        raise RpcError(INVALID_PARAMS, _sentence_for(exc.errors()[0])) from None
