"""The chat model factory: which chat model the settings ask for.

``make_chat_model`` returns an ``AzureChatOpenAI`` or an OpenAI-compatible ``ChatOpenAI``, or
``None`` when no model service is configured (the caller then uses the offline extractive model:
``make_chat_model(settings) or ExtractiveChatModel()``). Retries are the openai SDK's own: bounded
by ``max_retries`` and honouring ``retry-after``. What the SDK raises is turned into one sentence
by :mod:`azsdk_rag.model_errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .azure_auth import azure_auth
from .errors import ConfigError
from .settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

TEMPERATURE = 0.1
"""Low, so answers stay close to the READMEs and repeat across runs."""
NO_KEY = "not-needed"
"""Local OpenAI-compatible servers ignore the key, but the client insists on one."""


# -- selection -----------------------------------------------------------------------------------


def chat_backend(settings: Settings) -> str:
    """Which chat backend the settings select: ``azure``, ``openai`` or ``extractive``.

    ``auto`` picks Azure when ``AZURE_OPENAI_ENDPOINT`` is set, else an OpenAI-compatible server
    when ``AZSDK_RAG_OPENAI_BASE_URL`` is set, else the offline extractive model.
    """
    if settings.llm == "azure":
        if not settings.azure_openai_endpoint:
            raise ConfigError(
                "AZSDK_RAG_LLM=azure needs the Azure OpenAI endpoint: set AZURE_OPENAI_ENDPOINT."
            )
        return "azure"
    if settings.llm == "openai":
        if not settings.openai_base_url:
            raise ConfigError(
                "AZSDK_RAG_LLM=openai needs the server's URL: set AZSDK_RAG_OPENAI_BASE_URL."
            )
        return "openai"
    if settings.llm == "extractive":
        return "extractive"
    if settings.azure_openai_endpoint:
        return "azure"
    if settings.openai_base_url:
        return "openai"
    return "extractive"


def make_chat_model(settings: Settings, *, streaming: bool = True) -> BaseChatModel | None:
    """The configured chat model, or ``None`` for the offline extractive answerer.

    ``stream``/``astream`` always stream. ``streaming=True`` makes ``invoke`` stream internally
    too, so callbacks see tokens as they come; with ``False`` it asks for one JSON response.
    (An explicit ``streaming=False`` on the model would make langchain refuse to stream at all.)
    """
    backend = chat_backend(settings)
    if backend == "azure":
        from langchain_openai import AzureChatOpenAI

        return AzureChatOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            azure_deployment=settings.chat_deployment,
            api_version=settings.openai_api_version,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            temperature=TEMPERATURE,
            **_streaming(streaming),
            stream_usage=True,
            use_responses_api=False,
            **azure_auth(settings),
        )
    if backend == "openai":
        from langchain_openai import ChatOpenAI

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else NO_KEY
        return ChatOpenAI(
            base_url=settings.openai_base_url,
            api_key=key,
            model=settings.openai_model,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            temperature=TEMPERATURE,
            **_streaming(streaming),
            use_responses_api=False,
        )
    return None


def _streaming(streaming: bool) -> dict[str, Any]:
    return {"streaming": True} if streaming else {}
