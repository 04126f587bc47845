"""LangChain's standard test suites (``langchain-tests``), run on our retriever and chat model.

These are tests we did not write: they check that ``AzureSdkRetriever`` and
``ExtractiveChatModel`` behave as any LangChain retriever / chat model must. Features the offline
model does not have (tool calling, structured output, JSON mode, multimodal input, usage
metadata) are declared through the suites' own properties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    RetrieversIntegrationTests,
)
from langchain_tests.unit_tests import ChatModelUnitTests

from azsdk_rag.extractive import ExtractiveChatModel
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.retrieval import AzureSdkRetriever
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.answering import sample_rag


@pytest.fixture(scope="module")
def rag(sample_index: Store, settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkRag]:
    with sample_rag(sample_index, settings_factory) as r:
        yield r


class TestAzureSdkRetrieverStandard(RetrieversIntegrationTests):
    """Over the sample index, the python READMEs."""

    @pytest.fixture(autouse=True)
    def _index(self, rag: AzureSdkRag) -> None:
        self._params = {"backend": rag.factory.backend, "embedders": rag.embedders,
                        "languages": ("python",)}

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return AzureSdkRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return self._params

    @property
    def retriever_query_example(self) -> str:
        return "how do I upload a file to a blob container?"

    @property
    def num_results_arg_name(self) -> str:
        return "k"


class _ExtractiveFeatures:
    """What the offline model can and cannot do, in the suites' own terms."""

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ExtractiveChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_tool_choice(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_json_mode(self) -> bool:
        return False

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def supports_image_urls(self) -> bool:
        return False

    @property
    def supports_pdf_inputs(self) -> bool:
        return False

    @property
    def supports_audio_inputs(self) -> bool:
        return False

    @property
    def supports_video_inputs(self) -> bool:
        return False

    @property
    def supports_image_tool_message(self) -> bool:
        return False

    @property
    def supports_pdf_tool_message(self) -> bool:
        return False

    @property
    def supports_anthropic_inputs(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return False  # it runs no model, so there are no tokens to count

    @property
    def supports_model_override(self) -> bool:
        return False  # one offline model: nothing to switch to


class TestExtractiveChatModelIntegration(_ExtractiveFeatures, ChatModelIntegrationTests):
    """Invoke, stream, batch, conversations and events, with no network."""


class TestExtractiveChatModelUnit(_ExtractiveFeatures, ChatModelUnitTests):
    """Construction and tracing parameters."""
