"""Model failures as one sentence: what the openai SDK, httpx or Entra ID raised, said plainly.

``friendly_model_error`` looks through an exception's cause chain for an openai SDK, httpx,
Entra ID or content-filter error and returns one :class:`~azsdk_rag.errors.ModelError` sentence
that names the service and what to do, scrubbed of every key the request carried (and the
configured ones). ``model_errors`` applies it to a block; ``finish_reason_error`` catches a
stream that Azure's content filter stopped without raising.

    >>> with model_errors(settings):
    ...     model.invoke("hello")  # an HTTP 401 becomes ModelError("Azure OpenAI rejected ...")
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from .errors import ModelError
from .llms import NO_KEY
from .settings import Settings


def friendly_model_error(
    exc: BaseException, settings: Settings | None = None
) -> ModelError | None:
    """One clear sentence for a model failure, or ``None`` when ``exc`` is not one.

    Looks through ``exc``'s cause chain for an openai SDK, httpx, Entra ID or content-filter error.
    The message is scrubbed of the keys the request carried and (if given) the configured ones.
    """
    for err in _chain(exc):
        message = _describe(err, settings)
        if message is not None:
            return ModelError(_scrub(message, _secrets(err, settings)))
    return None


@contextlib.contextmanager
def model_errors(settings: Settings | None = None) -> Iterator[None]:
    """Re-raise model failures inside the block as :class:`ModelError` (others pass through).

    Works around ``for``/``async for`` loops over a stream as well as single calls.
    """
    try:
        yield
    except ModelError:
        raise
    except Exception as exc:
        friendly = friendly_model_error(exc, settings)
        if friendly is None:
            raise
        raise friendly from None


def finish_reason_error(response_metadata: Mapping[str, Any]) -> ModelError | None:
    """A :class:`ModelError` when a (streamed) answer stopped on Azure's content filter.

    A streamed completion that Azure filters just ends with ``finish_reason: "content_filter"``
    and raises nothing: callers check the last chunk's ``response_metadata`` with this.
    """
    if response_metadata.get("finish_reason") == "content_filter":
        return ModelError(_CONTENT_FILTER + " and stopped the answer; rephrase the question.")
    return None


_CONTENT_FILTER = "Azure OpenAI's content filter blocked this request"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )


def _describe(err: BaseException, settings: Settings | None) -> str | None:
    import openai

    if isinstance(err, openai.ContentFilterFinishReasonError) or _is_langchain_filter(err):
        return _CONTENT_FILTER + "; rephrase the question."
    if isinstance(err, openai.APITimeoutError):
        return _timeout_message(err.request, settings)
    if isinstance(err, openai.APIConnectionError):
        return _connection_message(err.request, err.__cause__)
    if isinstance(err, openai.APIStatusError):
        return _status_message(err)
    if isinstance(err, openai.APIError):  # an error event inside a stream
        return f"{_service(err.request)} failed while answering; try again."
    return _describe_transport(err, settings)


def _describe_transport(err: BaseException, settings: Settings | None) -> str | None:
    """httpx errors that escaped the SDK, and Entra ID token failures."""
    for httpx in _httpx_modules():
        if isinstance(err, httpx.TimeoutException):
            return _timeout_message(_request_of(err), settings)
        if isinstance(err, httpx.RequestError):
            return _connection_message(_request_of(err), err)
    with contextlib.suppress(ImportError):
        from azure.core.exceptions import ClientAuthenticationError

        if isinstance(err, ClientAuthenticationError):
            return (
                "Could not get a Microsoft Entra ID token for Azure OpenAI: set "
                "AZURE_OPENAI_API_KEY, or sign in (for example with 'az login')."
            )
    return None


def _httpx_modules() -> list[Any]:
    modules = []
    for name in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            modules.append(__import__(name))
    return modules


def _request_of(err: BaseException) -> Any:
    try:
        return err.request  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when no request is set
        return None


def _is_langchain_filter(err: BaseException) -> bool:
    """langchain_openai raises a bare ValueError for ``finish_reason: "content_filter"``."""
    return isinstance(err, ValueError) and "content filter" in str(err).lower()


def _status_message(err: Any) -> str:
    status: int = err.status_code
    service = _service(err.request)
    body = err.body if isinstance(err.body, Mapping) else {}
    code = str(body.get("code") or "")
    if code == "content_filter":
        categories = _filtered_categories(body)
        detail = f" ({', '.join(categories)})" if categories else ""
        return f"{_CONTENT_FILTER}{detail}; rephrase the question."
    if status == 429:
        wait = _retry_after(err.response.headers)
        when = f"try again in {wait} s" if wait else "try again shortly"
        return f"{service} is throttling requests (429) and retries ran out; {when}."
    if status in (401, 403):
        verb = "rejected the credentials" if status == 401 else "denied access"
        return f"{service} {verb} ({status}): check {_credential_hint(err.request)}."
    if status == 404:
        return _not_found_message(err.request, service)
    if status == 400 and code == "context_length_exceeded":
        return (
            f"{service} refused a prompt longer than the model's context (400): lower "
            "AZSDK_RAG_CONTEXT_TOKENS or AZSDK_RAG_HISTORY_TOKENS."
        )
    if status >= 500:
        return f"{service} failed with a server error ({status}) after retries; try again later."
    detail = _short(body.get("message") or "")
    return f"{service} rejected the request ({status})" + (f": {detail}" if detail else ".")


def _filtered_categories(body: Mapping[str, Any]) -> list[str]:
    inner = body.get("innererror") or {}
    result = inner.get("content_filter_result") if isinstance(inner, Mapping) else None
    if not isinstance(result, Mapping):
        return []
    found = []
    for name, verdict in result.items():
        if isinstance(verdict, Mapping) and verdict.get("filtered"):
            severity = verdict.get("severity")
            found.append(f"{name}: {severity}" if severity else str(name))
    return found


def _retry_after(headers: Mapping[str, str]) -> int | None:
    """Seconds the service asked us to wait, rounded up (``retry-after-ms`` wins, as in the SDK)."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds > 0:
            return max(1, math.ceil(seconds))
    return None


def _is_azure(request: Any) -> bool:
    url = _url(request)
    return url is not None and (
        "/openai/deployments/" in url.path or (url.hostname or "").endswith(".azure.com")
    )


def _url(request: Any) -> Any:
    if request is None:
        return None
    try:
        return urlsplit(str(request.url))
    except (AttributeError, RuntimeError, ValueError):
        return None


def _host(request: Any) -> str:
    url = _url(request)
    if url is None or not url.hostname:
        return "the model endpoint"
    return f"{url.hostname}:{url.port}" if url.port else url.hostname


def _service(request: Any) -> str:
    return "Azure OpenAI" if _is_azure(request) else f"The model server at {_host(request)}"


def _credential_hint(request: Any) -> str:
    if _is_azure(request):
        return "AZURE_OPENAI_API_KEY or your Entra ID login"
    return "AZSDK_RAG_OPENAI_API_KEY"


def _not_found_message(request: Any, service: str) -> str:
    url = _url(request)
    match = re.search(r"/openai/deployments/([^/]+)/", url.path) if url else None
    if match:
        setting = "AZSDK_RAG_EMBEDDING_DEPLOYMENT" if url.path.endswith("/embeddings") \
            else "AZSDK_RAG_CHAT_DEPLOYMENT"
        return (
            f"Azure OpenAI has no deployment named '{match[1]}' (404): check {setting} "
            "and AZURE_OPENAI_ENDPOINT."
        )
    model = _request_model(request)
    named = f" the model '{model}'" if model else " that model"
    return f"{service} does not know{named} (404): check AZSDK_RAG_OPENAI_MODEL."


def _request_model(request: Any) -> str | None:
    with contextlib.suppress(Exception):
        body = json.loads(request.content)
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            return body["model"]
    return None


def _timeout_message(request: Any, settings: Settings | None) -> str:
    seconds = settings.request_timeout if settings is not None else _read_timeout(request)
    within = f" within {seconds:g} s" if seconds else " in time"
    return (
        f"{_service(request)} did not answer{within}; try again, or raise "
        "AZSDK_RAG_REQUEST_TIMEOUT."
    )


def _read_timeout(request: Any) -> float | None:
    with contextlib.suppress(Exception):
        value = request.extensions["timeout"]["read"]
        return float(value) if value else None
    return None


def _connection_message(request: Any, cause: BaseException | None) -> str:
    root = _transport_cause(cause)
    name = type(root).__name__ if root is not None else ""
    where = _host(request)
    if "Connect" in name:
        return f"Could not connect to the model service at {where}; check the endpoint setting."
    if name:  # the connection was made but broke off (often mid-stream)
        return f"The connection to {where} broke off before the answer was complete; try again."
    return f"Could not reach the model service at {where}; check the endpoint and the network."


def _transport_cause(exc: BaseException | None) -> BaseException | None:
    """The network error under SDK wrappers (langchain re-raises openai's error from itself)."""
    import openai

    for err in _chain(exc) if exc is not None else ():
        if not isinstance(err, openai.OpenAIError):
            return err
    return None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- secrets -------------------------------------------------------------------------------------

_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_KEY_FIELD = re.compile(r"(?i)\b(api[-_]?key)(\"?\s*[:=]\s*\"?)[^\s\"',}]+")


def _secrets(err: BaseException, settings: Settings | None) -> list[str]:
    """Every secret that could have leaked into a message: configured keys and sent headers."""
    found: list[str] = []
    if settings is not None:
        for secret in (settings.azure_openai_api_key, settings.openai_api_key, settings.token,
                       settings.qdrant_api_key):
            if secret is not None:
                found.append(secret.get_secret_value())
    request = _request_of(err)
    headers = getattr(request, "headers", None)
    if headers is not None:
        with contextlib.suppress(Exception):
            for name in ("api-key", "authorization"):
                value = headers.get(name)
                if value:
                    found.append(value)
                    found.append(value.split(" ", 1)[-1])
    return [s for s in found if len(s) >= 4 and s != NO_KEY]


def _scrub(message: str, secrets: list[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        message = message.replace(secret, "***")
    message = _BEARER.sub(r"\1 ***", message)
    return _KEY_FIELD.sub(r"\1\2***", message)
