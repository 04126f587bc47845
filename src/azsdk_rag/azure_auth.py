"""How azsdk-rag signs in to Azure OpenAI, for chat and embeddings alike: the key, or Entra ID.

    >>> make_client(**azure_auth(settings))  # api_key=..., or azure_ad_token_provider=...
"""

from __future__ import annotations

from typing import Any

from .settings import Settings

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


def azure_auth(settings: Settings) -> dict[str, Any]:
    """The key when one is set, else a Microsoft Entra ID token provider (DefaultAzureCredential).

    Every auth argument is passed explicitly so the clients never fall back to reading the
    environment themselves (``Settings`` is the one reader of ``os.environ``).
    """
    if settings.azure_openai_api_key is not None:
        return {
            "api_key": settings.azure_openai_api_key.get_secret_value(),
            "azure_ad_token": None,
            "azure_ad_token_provider": None,
        }
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider

    provider = get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)
    return {"api_key": None, "azure_ad_token": None, "azure_ad_token_provider": provider}
