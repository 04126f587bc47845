"""azsdk-rag: answers developers' questions about the Azure SDKs from the SDKs' own READMEs."""

__version__ = "0.1.0"
