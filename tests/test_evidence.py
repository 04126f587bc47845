"""The package-evidence table: what it reads from README code, its file, and how the router and
the retriever use it (hand-made READMEs and hits; the ingest writes it beside the index)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from langchain_core.documents import Document

from azsdk_rag.evidence import (
    EvidenceSource,
    PackageEvidence,
    evidence_path,
    readme_identifiers,
)
from azsdk_rag.router import route


def _readme(language: str, package: str, text: str) -> Document:
    return Document(page_content=text, metadata={"language": language, "package": package})


DOTNET_BUS = _readme("dotnet", "Azure.Messaging.ServiceBus", """
# Service Bus
Register it with `builder.AddServiceBusClient(connectionString)`.
```C#
var client = new ServiceBusClient(connectionString);
ServiceBusSender sender = client.CreateSender(queueName);
```
""")
PY_BUS = _readme("python", "azure-servicebus", """
# Service Bus
```python
client = ServiceBusClient.from_connection_string(conn_str)
with client.get_queue_sender(queue_name) as sender:
    sender.send_messages(ServiceBusMessage("hi"))
```
""")
JAVA_BLOB = _readme("java", "azure-storage-blob", """
```java
BlobContainerClient containerClient = blobServiceClient.getBlobContainerClient("c");
for (BlobItem item : containerClient.listBlobs()) { }
String storageAccountName = "x";
```
""")
TABLE = PackageEvidence.build([DOTNET_BUS, PY_BUS, JAVA_BLOB])


def test_api_names_in_code_are_read_local_variables_and_prose_are_not() -> None:
    ids = readme_identifiers(JAVA_BLOB.page_content)
    assert {"BlobContainerClient", "getBlobContainerClient", "listBlobs", "BlobItem"} <= ids
    assert "storageAccountName" not in ids  # a sample's own variable
    assert "containerClient" not in ids
    assert readme_identifiers("Use the ServiceBusClient, it is great.") == set()  # prose


def test_the_table_knows_which_languages_and_packages_show_a_name() -> None:
    assert TABLE.languages_of("ServiceBusClient") == {"dotnet": 1, "python": 1}
    assert TABLE.languages_of("AddServiceBusClient") == {"dotnet": 1}
    assert TABLE.packages_of("send_messages") == {("python", "azure-servicebus")}
    assert TABLE.known("call builder.AddServiceBusClient() and listBlobs()") == [
        "AddServiceBusClient", "listBlobs"]


def test_a_name_only_one_language_shows_routes_there_and_says_so() -> None:
    question = "will `builder.AddServiceBusClient` dispose my clients for me?"
    assert route(question).languages == ()  # without the table: no language
    r = route(question, evidence=TABLE)
    assert r.languages == ("dotnet",)
    assert "AddServiceBusClient (only .NET READMEs)" in r.reason


def test_a_name_several_languages_show_is_no_evidence() -> None:
    assert route("how do I close a ServiceBusClient?", evidence=TABLE).languages == ()


def test_a_named_language_still_wins_over_the_table() -> None:
    r = route("in Python, what does AddServiceBusClient do?", evidence=TABLE)
    assert r.languages == ("python",)


def test_the_file_round_trips_and_is_replaced_whole(tmp_path: Path) -> None:
    path = evidence_path(str(tmp_path), "AzureSDKs")
    assert path is not None and evidence_path(":memory:", "AzureSDKs") is None
    TABLE.save(path)
    loaded = PackageEvidence.load(path)
    assert loaded is not None and loaded.to_json() == TABLE.to_json()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_an_update_replaces_the_ingested_packages_and_keeps_the_others() -> None:
    newer = PackageEvidence.build([_readme("python", "azure-servicebus", "`new_api()`")])
    merged = TABLE.updated(newer)
    assert merged.packages_of("new_api") == {("python", "azure-servicebus")}
    assert merged.packages_of("send_messages") == frozenset()  # the old README's names went
    assert merged.languages_of("AddServiceBusClient") == {"dotnet": 1}  # other packages kept
    pruned = TABLE.updated(newer, prune_languages=["python", "java"])
    assert pruned.languages_of("listBlobs") == {}  # java packages missing from the source


def test_a_damaged_or_foreign_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("{not json", "utf-8")
    assert PackageEvidence.load(path) is None
    path.write_text(json.dumps({"format": 99}), "utf-8")
    assert PackageEvidence.load(path) is None
    assert PackageEvidence.load(tmp_path / "missing.json") is None


def test_the_source_rereads_a_replaced_file_and_falls_back_without_one(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    calls: list[int] = []

    def fallback() -> PackageEvidence:
        calls.append(1)
        return TABLE

    source = EvidenceSource(path, fallback)
    assert source.get() is TABLE and calls == [1]
    newer = PackageEvidence.build([_readme("rust", "azure_core", "`ClientOptions::default()`")])
    newer.save(path)
    os.utime(path, ns=(1, 1))
    assert source.get().languages_of("ClientOptions") == {"rust": 1}
    assert calls == [1]


def test_a_failing_fallback_leaves_an_empty_table() -> None:
    def broken() -> PackageEvidence:
        raise OSError("gone")

    assert len(EvidenceSource(None, broken).get()) == 0


@pytest.mark.parametrize("question, language", [
    ("ITextAnalyticsClient client = new TextAnalyticsClient(creds) { Endpoint = \"x\" };",
     "dotnet"),
    ("`TableQuery.GenerateFilterCondition(\"PartitionKey\", op, \"x\")` what can the filter do",
     "dotnet"),
    ("upgrading from WindowsAzure.Storage, where did CloudTable go", "dotnet"),
    ("my pom has azure-storage-blob:12.8.0 and uploads fail", "java"),
    ("javax.net.ssl.SSLHandshakeException when uploading a blob", "java"),
    ("requirements has azure-storage-blob==12.19.0, upload fails", "python"),
])
def test_shapes_that_show_a_language(question: str, language: str) -> None:
    assert route(question).languages == (language,)


@pytest.mark.parametrize("question, language", [
    ("I send mail with the azure-communication-email package and attachments fail", "python"),
    ("which azure-storage-blob artifact version works with Spring 5", "java"),
    ("does blobContainerClient.listBlobs().iterator fetch page by page?", "java"),
])
def test_words_around_a_package_name_and_paging_shapes(question: str, language: str) -> None:
    assert route(question).languages == (language,)


@pytest.mark.parametrize("question", [
    "listBlobs takes the prefix option but the response is always a promise",
    "does listBlobs return a Promise I have to await?",
])
def test_a_promise_in_prose_names_javascript_over_a_name_only_java_readmes_show(
        question: str) -> None:
    # Newer JavaScript READMEs may no longer show an old method name; "a promise" still says it.
    java_only = PackageEvidence({("java", "azure-storage-blob"): {"listBlobs"}})
    r = route(question, evidence=java_only)
    assert r.languages == ("javascript",)


def test_a_promise_to_do_something_is_not_javascript() -> None:
    assert route("we promise to upload the blob nightly").languages == ()


def test_the_table_keeps_one_string_per_identifier_and_every_package() -> None:
    from azsdk_rag.evidence import PackageEvidence

    a, b = "".join(["Blob", "ServiceClient"]), "".join(["BlobService", "Client"])
    assert a is not b
    table = PackageEvidence({("python", "p1"): [a], ("java", "j1"): [b], ("rust", "r1"): []})
    first, = table.known("BlobServiceClient")
    owners = table.packages_of(first)
    assert owners == {("python", "p1"), ("java", "j1")}
    assert table.package_keys == {("python", "p1"), ("java", "j1"), ("rust", "r1")}
    again = PackageEvidence.from_json(table.to_json())
    assert again.to_json() == table.to_json()
    assert {row["package"] for row in again.to_json()["packages"]} == {"p1", "j1", "r1"}
    (p1_id,), (j1_id,) = (again._by_package[("python", "p1")],
                          again._by_package[("java", "j1")])
    assert p1_id is j1_id  # one string object, however many READMEs show the name
