"""The language router: rules, traps, conversation, the optional classifier, and the Runnable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableLambda

from azsdk_rag.languages import (
    LANGUAGES,
    MEDIUM,
    Cue,
    Installer,
    Language,
    language_ids,
    names,
    registered,
)
from azsdk_rag.router import LanguageChoice, LanguageRouter, analyse, classifier_prompt, route
from azsdk_rag.types import Route


@pytest.fixture(autouse=True)
def registry_unchanged():
    """No test may leak a registered language into the next."""
    before = dict(LANGUAGES)
    yield
    assert dict(LANGUAGES) == before


def langs(question: str, history=(), language=None) -> list[str]:
    return list(route(question, history, language).languages)


# -- slash commands --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected", "query"),
    [
        ("/python upload a csv", ["python"], "upload a csv"),
        ("/py upload a csv", ["python"], "upload a csv"),
        ("/js upload a string", ["javascript"], "upload a string"),
        ("/javascript list the blobs", ["javascript"], "list the blobs"),
        ("/ts list the blobs", ["javascript"], "list the blobs"),
        ("/typescript list the blobs", ["javascript"], "list the blobs"),
        ("/java read a secret", ["java"], "read a secret"),
        ("/net upload a stream", ["dotnet"], "upload a stream"),
        ("/.net upload a stream", ["dotnet"], "upload a stream"),
        ("/dotnet upload a stream", ["dotnet"], "upload a stream"),
        ("/csharp upload a stream", ["dotnet"], "upload a stream"),
        ("/c# upload a stream", ["dotnet"], "upload a stream"),
        ("/rust read a secret", ["rust"], "read a secret"),
        ("/PYTHON upload", ["python"], "upload"),
        ("/Js upload", ["javascript"], "upload"),
        ("  /rust   read a secret  ", ["rust"], "read a secret"),
        ("/python", ["python"], ""),
    ],
)
def test_slash_command_wins_and_is_stripped(question, expected, query):
    r = route(question)
    assert list(r.languages) == expected
    assert r.query == query
    assert r.signal == "slash"
    assert r.reason.startswith("slash command /")


def test_slash_command_beats_the_text():
    r = route("/java how would this look compared to my python and C# code?")
    assert r.languages == ("java",)
    assert r.reason == "slash command /java"


@pytest.mark.parametrize(
    "question",
    [
        "/netflix how do I stream a big video file out of blob storage?",
        "/network do I need to change the client behind a private endpoint?",
        "/javafx upload a blob",
        "/pyramid upload a blob",
    ],
)
def test_unknown_slash_word_is_not_a_language(question):
    r = route(question)
    assert r.languages == ()
    assert r.signal == "none"
    assert r.query == question  # nothing is stripped


def test_unknown_slash_word_leaves_the_text_to_the_other_rules():
    assert langs("/netflix stream a video out of blob storage from my Django view") == ["python"]
    assert langs("/python3 upload a blob") == ["python"]


# -- the traps -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # JavaScript is not Java.
        ("JavaScript question: how do I page through the secrets?", ["javascript"]),
        ("javascript: list containers", ["javascript"]),
        ("TypeScript types for a received service bus message?", ["javascript"]),
        ("javascript vs java: which has better retry support?", ["java", "javascript"]),
        # network is not .NET; .NET needs the dot or "dotnet".
        ("do I need networking changes for a private endpoint?", []),
        ("my network team blocks outbound 443", []),
        ("dotnetwork is not a word", []),
        ("https://acct.blob.core.windows.net/c returns 403", []),
        (".NET MAUI app: where do I keep the connection string?", ["dotnet"]),
        ("does the .NET SDK support HTTP/2", ["dotnet"]),
        ("dotnet: list blobs", ["dotnet"]),
        # Go and C++ are not among our languages.
        ("how do I do this in Go with azblob? just upload a file", []),
        ("golang: list containers", []),
        ("C++: create a BlobClient and upload a buffer", []),
        ("C++ std::vector of blobs, how do I upload them", []),
        ("client, err := azblob.NewClient(url, cred, nil)\nif err != nil { return }", []),
        ("our Ruby on Rails app needs blob storage", []),
        # Rust false friends.
        ("I'm a bit rusty on Azure - managed identity vs service principal?", []),
        ("customer is a Rust-Oleum distributor: service bus or storage queues?", []),
        ("the pipes rusted, anyway: how do I list queues", []),
        ("Rust: list queues", ["rust"]),
        # "py" inside words is not Python.
        ("happy path for a copy of a blob", []),
        ("sentiment per sentence for product reviews, py", ["python"]),
        # C# is not C.
        ("upload a blob with C#", ["dotnet"]),
        ("upload a blob from C", []),
        ("F# script: fetch a secret", ["dotnet"]),
        # Node the runtime, not a node of a pool or cluster.
        ("AKS node pool with workload identity: which credential?", []),
        ("each node in my batch pool needs a certificate", []),
        ("worker node identity on the cluster", []),
        ("Node.js 20 with ESM: import line for DefaultAzureCredential?", ["javascript"]),
        ("node: cancel a slow call after 5s", ["javascript"]),
        ("could you show me the Node version of this", ["javascript"]),
        # Ordinary English words that are also framework names.
        ("how do I react to blob created events?", []),
        ("React to blob created events with event grid", []),
        ("react app uploads to blob storage and gets CORS errors", ["javascript"]),
        ("express my preference: queue or topic?", []),
        ("express middleware that reads app configuration", ["javascript"]),
        ("Spring cleaning: delete blobs older than 30 days", []),
        ("workload identity on AKS for a Spring app", ["java"]),
    ],
)
def test_false_friends(question, expected):
    assert langs(question) == expected


# -- the text: names, tools, frameworks, files -----------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("pip installed azure-storage-blob, now what", ["python"]),
        ("which package on PyPI?", ["python"]),
        ("conda env can't find azure-identity", ["python"]),
        ("poetry add azure-appconfiguration", ["python"]),
        ("requirements.txt has azure-eventhub", ["python"]),
        ("Django app in App Service", ["python"]),
        ("FastAPI on AKS", ["python"]),
        ("flask app: load every setting", ["python"]),
        ("which azure-mgmt library creates storage accounts", ["python"]),
        ("npm i @azure/storage-blob done", ["javascript"]),
        ("yarn add fails", ["javascript"]),
        ("pnpm workspace with the sdk", ["javascript"]),
        ("@azure-rest/ai-vision: how do I call analyze", ["javascript"]),
        ("Next.js API route that reads a secret", ["javascript"]),
        ("webpack 5 cannot resolve 'os'", ["javascript"]),
        ("pom.xml: which dependency for blob storage", ["java"]),
        ("gradle project: which artifacts", ["java"]),
        ("mvn dependency:tree shows two versions", ["java"]),
        ("Spring Boot service listing blobs", ["java"]),
        ("send an sms from a quarkus service", ["java"]),
        ("Kotlin coroutines with the secret client", ["java"]),
        ("com.azure.storage.blob.models.BlobStorageException: 404", ["java"]),
        ("which NuGet package for certificates?", ["dotnet"]),
        ("dotnet add package for blobs", ["dotnet"]),
        ("Install-Package Microsoft.Azure.Cosmos", ["dotnet"]),
        ("ASP.NET Core: register clients in DI", ["dotnet"]),
        ("Blazor server upload", ["dotnet"]),
        ('<PackageReference Include="Azure.AI.OpenAI" /> added', ["dotnet"]),
        ("my .csproj targets net8.0", ["dotnet"]),
        ("Azure.Security.KeyVault.Secrets: get a secret", ["dotnet"]),
        ("mocking SecretClient with Moq in xunit tests", ["dotnet"]),
        ("what do i cargo add for blob storage", ["rust"]),
        ("Cargo.toml: native-tls instead of rustls", ["rust"]),
        ("tokio: 'there is no reactor running'", ["rust"]),
        ("is the crate on crates.io yet", ["rust"]),
        ("async-std instead of tokio with the azure_* crates", ["rust"]),
        ("aws-lc-rs fails to compile when building azure_core", ["rust"]),
        ("RUST_LOG value for debug logs", ["rust"]),
    ],
)
def test_ecosystem_names(question, expected):
    r = route(question)
    assert list(r.languages) == expected
    assert r.signal == "text"


def test_reason_names_the_evidence():
    assert route("I use pip and Django").reason == "mentions 'pip' and 'Django'"
    assert route("flask app").reason == "mentions 'flask'"
    # One match is shown once, not also as the file name inside it.
    assert route("Node.js 20: import line?").reason == "mentions 'Node.js'"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("I'm porting my Java app to Python, how do I read blobs?", ["java", "python"]),
        ("python backend and a node worker need the same secret", ["javascript", "python"]),
        ("cosmos: create a container in Java and in C#", ["dotnet", "java"]),
        ("event hubs producer in rust and in typescript", ["javascript", "rust"]),
        (
            "have this in python with BlobServiceClient - what's the C# equivalent?",
            [
                "dotnet",
                "python",
            ],
        ),
        (
            "same connection string in Python, C#, Java, Rust and TypeScript?",
            ["dotnet", "java", "javascript", "python", "rust"],
        ),
    ],
)
def test_several_named_languages_are_all_picked(question, expected):
    assert langs(question) == expected


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # A strong name is not joined by a language that only a weak hint suggests.
        ("python: begin_create_certificate then wait", ["python"]),
        ("rust: begin_create_certificate returns a Poller", ["rust"]),
        ("java: beginCreateCertificate then waitForCompletion", ["java"]),
        ("C#: which Express-like routing", ["dotnet"]),
        # A pip-shaped name is both a pip name and a Maven artifact id: the tool decides.
        ("gradle: azure-identity version conflict", ["java"]),
        ("conda: azure-identity not found", ["python"]),
    ],
)
def test_weak_hints_do_not_add_languages(question, expected):
    assert langs(question) == expected


def test_ambiguous_package_name_alone_names_no_language():
    r = route("upload with azure-storage-blob")
    assert r.languages == ()


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("can I share one ServiceBusSender across a ThreadPoolExecutor?", ["python"]),
        ("begin_create_certificate with the default policy - how do I wait?", ["python"]),
        ("EventHubConsumerClient: how do I tune maxRetries / retryDelayInMs?", ["javascript"]),
    ],
)
def test_weak_hints_decide_when_nothing_else_does(question, expected):
    r = route(question)
    assert list(r.languages) == expected
    assert r.reason.startswith("only weak hints point to")


@pytest.mark.parametrize(
    "question",
    [
        "how do I upload a file to blob storage",
        "DefaultAzureCredential vs ChainedTokenCredential, when would I use which?",
        "send a message to a service bus queue",
        "list all the VMs in a resource group",
        "point the table storage client at azurite for local testing",
    ],
)
def test_no_language_named_means_all_languages(question):
    r = route(question)
    assert r.languages == ()
    assert r.signal == "none"
    assert r.reason == "no language named: all languages"
    assert r.query == question


def test_unsupported_language_reason():
    r = route("golang: list containers")
    assert r.signal == "none"
    assert "no SDK here" in r.reason


# -- code fences, pasted code, error messages ------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("python", "python"),
        ("py", "python"),
        ("ts", "javascript"),
        ("typescript", "javascript"),
        ("js", "javascript"),
        ("csharp", "dotnet"),
        ("cs", "dotnet"),
        ("c#", "dotnet"),
        ("java", "java"),
        ("kotlin", "java"),
        ("rust", "rust"),
    ],
)
def test_code_fence_tag_names_the_language(tag, expected):
    question = f"```{tag}\nclient = make_client()\n```\nhow do I close it?"
    assert langs(question) == [expected]


def test_xml_fence_is_not_java_by_itself_but_its_content_can_be():
    assert langs("```xml\n<root/>\n```\nwhat is this?") == []
    pom = "```xml\n<dependency>\n<groupId>com.azure</groupId>\n</dependency>\n```"
    assert langs(pom) == ["java"]
    csproj = '```xml\n<PackageReference Include="Azure.Identity" />\n```'
    assert langs(csproj) == ["dotnet"]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        # Python
        ("from azure.storage.blob import BlobServiceClient\nhow do I list?", "python"),
        ("import azure.functions as func - how do I bind a blob?", "python"),
        ("async def main():\n    async with client:\n        ...", "python"),
        ("with ServiceBusClient(ns, cred) as client:\n    pass", "python"),
        ("print(secret.value) prints None", "python"),
        ("logging.getLogger('azure') at DEBUG is noisy", "python"),
        ("how do I send to the DLQ with azure.servicebus", "python"),
        ("BlobServiceClient.from_connection_string(conn) then get_container_client", "python"),
        ("DefaultAzureCredential(exclude_cli_credential=True) still runs az", "python"),
        # JavaScript / TypeScript
        ('const { BlobServiceClient } = require("@azure/storage-blob");', "javascript"),
        ('import { SecretClient } from "@azure/keyvault-secrets";', "javascript"),
        ("const client = new SecretClient(url, cred);", "javascript"),
        ("console.log(secret.value) prints undefined", "javascript"),
        ("const secret = await client.getSecret(name);", "javascript"),
        ("export DEBUG=azure* shows nothing", "javascript"),
        ("BlobServiceClient.fromConnectionString(conn) then getContainerClient", "javascript"),
        ("container.items.query({ query: 'SELECT * FROM c' }).fetchAll()", "javascript"),
        # Java
        ("import com.azure.storage.blob.BlobServiceClient;", "java"),
        ("public static void main(String[] args) {", "java"),
        ("new SecretClientBuilder().vaultUrl(url).buildClient();", "java"),
        ("System.out.println(secret.getValue()) prints null", "java"),
        ("CosmosAsyncContainer.createItem returns a Mono, how do I chain?", "java"),
        ("BlobContainerAsyncClient.listBlobs().subscribe(...) never emits", "java"),
        # .NET
        ("using Azure.Storage.Blobs;\nvar client = new BlobServiceClient(cs);", "dotnet"),
        ("await using var client = new ServiceBusClient(cs);", "dotnet"),
        ("Console.WriteLine(secret.Value) prints nothing", "dotnet"),
        ("LogsQueryClient.QueryWorkspaceAsync with a 1 day range", "dotnet"),
        ("var client = new SecretClient(new Uri(url), cred);", "dotnet"),
        ('client.GetSecret("db-pass") returns 403', "dotnet"),
        # Rust
        ("use azure_identity::DeveloperToolsCredential;", "rust"),
        ("#[tokio::main]\nasync fn main() -> Result<(), Box<dyn std::error::Error>> {", "rust"),
        ("let client = SecretClient::new(url, credential.clone(), None)?;", "rust"),
        ('println!("{secret:#?}") only prints `Secret { .. }`', "rust"),
        ("BlobServiceClient::new(endpoint, credential, None)", "rust"),
        ("let secret = client.get_secret(name, None).await?;", "rust"),
    ],
)
def test_pasted_code_shows_the_language(snippet, expected):
    assert langs(snippet) == [expected]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\n'
            "ModuleNotFoundError: No module named 'azure'",
            "python",
        ),
        (
            "azure.core.exceptions.ResourceNotFoundError: The specified blob does not exist.",
            "python",
        ),
        (
            'Exception in thread "main" java.lang.NoClassDefFoundError: '
            "com/azure/core/util/Context\n\tat Main.main(Main.java:12)",
            "java",
        ),
        (
            "error CS0246: The type or namespace name 'BlobServiceClient' could not be found",
            "dotnet",
        ),
        ("Azure.RequestFailedException: The specified container already exists.", "dotnet"),
        ("Unhandled exception. System.InvalidOperationException: boom", "dotnet"),
        (
            "error[E0433]: failed to resolve: use of undeclared crate or module "
            "`azure_storage_blob`",
            "rust",
        ),
        ("thread 'main' panicked at src/main.rs:10:5", "rust"),
        (
            "TypeError: Cannot read properties of undefined (reading 'getContainerClient')\n"
            "    at main (/app/index.js:12:30)",
            "javascript",
        ),
        ("Error: Cannot find module '@azure/identity'", "javascript"),
    ],
)
def test_error_messages_show_the_language(error, expected):
    assert langs(error + "\nhow do I fix this?") == [expected]


def test_code_shapes_compete_rather_than_add_up():
    # Rust code also has snake_case calls (a Python hint) and `let` (a JavaScript hint).
    code = 'let blob = client.blob_client("c", "b");\nblob.upload(data, None).await?;'
    r = route(code)
    assert r.languages == ("rust",)
    assert r.signal == "code"
    assert r.reason.startswith("code looks like Rust: ")


def test_signal_is_code_only_when_the_evidence_is_code():
    assert route("from azure.identity import DefaultAzureCredential").signal == "code"
    assert route("```python\nx = 1\n```").signal == "text"  # a fence tag names it
    assert route("python: from azure.identity import X").signal == "text"


# -- the conversation ------------------------------------------------------------------------------


def _turns(*pairs):
    return [{"role": role, "content": content} for role, content in pairs]


def test_follow_up_keeps_the_language_of_the_previous_turn():
    history = _turns(("user", "how do I upload a file to blob storage in python?"))
    r = route("and how do I download it again?", history)
    assert r.languages == ("python",)
    assert r.signal == "history"
    assert r.reason == "follow-up: previous turn was about Python"


def test_follow_up_uses_the_latest_turn_that_named_a_language():
    history = _turns(
        ("user", "/js get a secret from key vault"),
        ("assistant", "Use SecretClient."),
        ("user", "same in java please"),
        ("assistant", "Use SecretClientBuilder."),
        ("user", "thanks, and what permissions are needed?"),
        ("assistant", "Get and List on secrets."),
    )
    r = route("what about listing all of them?", history)
    assert r.languages == ("java",)
    assert r.reason == "follow-up: an earlier turn was about Java"


def test_follow_up_that_names_a_new_language_switches():
    history = _turns(("user", "/rust send a message to a queue"), ("assistant", "..."))
    assert langs("ok and in python?", history) == ["python"]
    assert langs("could you show me the Node version of this", history) == ["javascript"]
    assert langs("what would this look like in Go?", history) == []


def test_weak_hints_do_not_override_the_conversation():
    history = _turns(("user", "/js receive from a queue"))
    assert langs("what do max_wait_time_in_ms and receive_mode do?", history) == ["javascript"]


def test_multi_language_turn_is_carried_whole():
    history = _turns(("user", "difference between DefaultAzureCredential in node and in .NET?"))
    assert langs("and which env vars do they read?", history) == ["dotnet", "javascript"]


def test_slash_command_in_history_counts():
    history = _turns(("user", "/csharp upload a blob"), ("assistant", "BlobClient.Upload"))
    r = route("and list them?", history)
    assert r.languages == ("dotnet",)
    assert r.reason == "follow-up: an earlier turn was about .NET (/csharp)"


def test_assistant_code_in_one_language_carries_the_chat():
    history = _turns(
        ("user", "how do I upload a blob?"),
        ("assistant", "```python\nblob.upload_blob(data)\n```"),
    )
    r = route("and download it?", history)
    assert r.languages == ("python",)
    assert r.reason == "follow-up: previous turn showed Python code"


def test_assistant_overview_in_several_languages_does_not_narrow_the_chat():
    history = _turns(
        ("user", "how do I upload a blob?"),
        (
            "assistant",
            "```python\nblob.upload_blob(data)\n```\n```csharp\nawait blob.UploadAsync(s);\n```",
        ),
    )
    assert langs("and download it?", history) == []


def test_assistant_prose_does_not_count_only_its_code():
    history = _turns(
        ("user", "how do I upload a blob?"),
        ("assistant", "Unlike Java or Python, you call upload on a `BlobClient`."),
    )
    assert langs("and download it?", history) == []
    history[1]["content"] = "Run `pip install azure-storage-blob`, then call upload_blob."
    assert langs("and download it?", history) == ["python"]


def test_unsupported_language_in_history_ends_the_search():
    history = _turns(
        ("user", "python: upload a blob"),
        ("assistant", "..."),
        ("user", "how would I do that in golang?"),
        ("assistant", "..."),
    )
    r = route("and download?", history)
    assert r.languages == ()
    assert r.signal == "history"


def test_history_accepts_langchain_messages_and_pairs():
    messages = [
        SystemMessage("You answer Azure SDK questions."),
        HumanMessage("rust blob upload"),
        AIMessage("Derive a BlobClient and call upload."),
    ]
    assert langs("and a SAS for it?", messages) == ["rust"]
    assert langs("and a SAS for it?", [("user", "rust blob upload")]) == ["rust"]
    blocks = [HumanMessage(content=[{"type": "text", "text": "/java upload"}])]
    assert langs("and a SAS for it?", blocks) == ["java"]


def test_system_turns_are_ignored():
    history = [{"role": "system", "content": "Prefer Python."}]
    assert langs("upload a blob", history) == []


@pytest.mark.parametrize(
    "history",
    [
        "just a string",
        {"role": "user", "content": "not a list"},
        [42],
        [{"role": "user"}],
        [{"content": "no role"}],
        [("user", 42)],
    ],
)
def test_malformed_history_is_a_clear_error(history):
    with pytest.raises(ValueError, match="history"):
        route("and then?", history)


# -- forced language -------------------------------------------------------------------------------


def test_forced_language_wins():
    r = route("how do I do this in python?", language="rust")
    assert r.languages == ("rust",)
    assert r.signal == "forced"
    assert r.reason == "language forced to Rust"


def test_forced_language_accepts_names_and_strips_a_slash_command():
    r = route("/python upload a blob", language="C#")
    assert r.languages == ("dotnet",)
    assert r.query == "upload a blob"


def test_forced_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown language 'cobol'"):
        route("upload", language="cobol")


# -- registering a language ------------------------------------------------------------------------

GO = Language(
    id="go",
    name="Go",
    slash_commands=("/go", "/golang"),
    fence_tags=("go", "golang"),
    cues=(
        names("golang", "go get", "go.mod"),
        Cue(r"\b(?:in|with|using|for)\s+Go\b", case_sensitive=True, label="Go"),
        Cue(r"\bazblob\b|\bazidentity\b", MEDIUM),
        Cue(r"\bfunc\s+\w+\(|:=", kind="code", label="Go syntax"),
    ),
    installer=Installer("go get {package}"),
)


def test_a_registered_language_is_routed_like_the_builtins():
    with registered(GO):
        assert language_ids()[-1] == "go"
        r = route("/go upload a blob")
        assert (r.languages, r.query, r.signal) == (("go",), "upload a blob", "slash")
        assert langs("how do I do this in Go with azblob? just upload a file") == ["go"]
        assert langs("go get github.com/Azure/azure-sdk-for-go/sdk/azidentity fails") == ["go"]
        assert langs("golang vs python: which SDK has better retries?") == ["go", "python"]
        assert langs("```go\nclient := azblob.NewClient()\n```") == ["go"]
        assert langs("and download?", [{"role": "user", "content": "golang upload"}]) == ["go"]
        assert langs("upload a blob") == []
    # Gone again: Go is "a language with no SDK here" once more.
    assert langs("how do I do this in Go with azblob?") == []
    assert route("/go upload a blob").languages == ()


def test_registered_language_is_offered_to_the_classifier():
    with registered(GO):
        assert "go (Go)" in classifier_prompt("question", ())
    assert "go (Go)" not in classifier_prompt("question", ())


# -- the optional classifier -----------------------------------------------------------------------


class Recorder:
    """A fake classifier: records prompts, answers with a fixed output (or raises)."""

    def __init__(self, output):
        self.output = output
        self.prompts: list[str] = []

    def __call__(self, prompt: str):
        self.prompts.append(prompt)
        if isinstance(self.output, Exception):
            raise self.output
        return self.output

    async def acall(self, prompt: str):
        return self(prompt)

    def runnable(self):
        return RunnableLambda(self.__call__, afunc=self.acall)


def test_classifier_settles_weak_hints():
    fake = Recorder(LanguageChoice(languages=["java"]))
    router = LanguageRouter(classifier=fake.runnable())
    r = router.invoke("can I share one ServiceBusSender across a ThreadPoolExecutor?")
    assert r.languages == ("java",)
    assert r.signal == "llm"
    assert r.reason == "classifier picked Java"
    assert len(fake.prompts) == 1
    assert "ThreadPoolExecutor" in fake.prompts[0]
    assert "Weak hints suggest: python" in fake.prompts[0]


def test_classifier_is_asked_about_api_names_the_rules_do_not_know():
    fake = Recorder({"languages": ["rust"]})
    router = LanguageRouter(classifier=fake.runnable())
    assert router.invoke("can SasBuilder generate an account SAS?").languages == ("rust",)


@pytest.mark.parametrize(
    "question",
    [
        "pip install azure-identity",  # decisive
        "/java read a secret",  # slash
        "send an sms",  # nothing to ask about
        {"question": "and then?", "history": [{"role": "user", "content": "rust upload"}]},
        {"question": "upload", "language": "python"},
    ],
)
def test_classifier_is_not_asked_when_the_rules_are_sure(question):
    fake = Recorder(LanguageChoice(languages=["java"]))
    r = LanguageRouter(classifier=fake.runnable()).invoke(question)
    assert fake.prompts == []
    assert r.signal != "llm"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (LanguageChoice(languages=[]), ()),
        (LanguageChoice(languages=["C#", "TypeScript"]), ("dotnet", "javascript")),
        (["python", "cobol"], ("python",)),
        ("rust", ("rust",)),
        (AIMessage('["java"]'), ("java",)),
    ],
)
def test_classifier_output_shapes(output, expected):
    router = LanguageRouter(classifier=Recorder(output).runnable())
    r = router.invoke("EventHubConsumerClient: tune maxRetries?")
    assert r.languages == expected
    assert r.signal == "llm"


@pytest.mark.parametrize("output", [RuntimeError("model down"), 42])
def test_classifier_failure_falls_back_to_the_rules(output, caplog):
    router = LanguageRouter(classifier=Recorder(output).runnable())
    r = router.invoke("can I share one ServiceBusSender across a ThreadPoolExecutor?")
    assert r.languages == ("python",)
    assert r.signal == "text"
    assert "model down" not in caplog.text  # only the error type is logged


async def test_classifier_is_awaited_on_ainvoke():
    fake = Recorder(LanguageChoice(languages=["javascript"]))
    router = LanguageRouter(classifier=fake.runnable())
    r = await router.ainvoke("can SasBuilder generate an account SAS?")
    assert r.languages == ("javascript",)
    assert len(fake.prompts) == 1


# -- the Runnable ----------------------------------------------------------------------------------


def test_invoke_with_a_dict_or_a_string():
    router = LanguageRouter()
    assert router.invoke("pip install azure-identity").languages == ("python",)
    r = router.invoke(
        {
            "question": "ok how do i receive them",
            "history": [{"role": "user", "content": "/js send messages to a queue"}],
        }
    )
    assert r == Route(("javascript",), "ok how do i receive them", "history", r.reason)
    assert router.invoke({"question": "x", "language": "java"}).signal == "forced"


async def test_ainvoke_and_abatch():
    router = LanguageRouter()
    r = await router.ainvoke({"question": "/rust list secrets"})
    assert r.languages == ("rust",)
    routes = await router.abatch(["/py a", "/java b"])
    assert [x.languages for x in routes] == [("python",), ("java",)]


def test_batch():
    routes = LanguageRouter().batch(["/py a", "C#: b", "c", {"question": "d", "language": "rust"}])
    assert [x.languages for x in routes] == [("python",), ("dotnet",), (), ("rust",)]


def test_lcel_composition():
    chain = LanguageRouter() | RunnableLambda(lambda r: (r.languages, r.query))
    assert chain.invoke("/ts upload a blob") == (("javascript",), "upload a blob")
    upstream = RunnableLambda(lambda q: {"question": q}) | LanguageRouter()
    assert upstream.invoke("Cargo.toml features").languages == ("rust",)


def test_schemas_describe_input_and_output():
    router = LanguageRouter()
    assert router.get_output_schema().model_json_schema()["$ref"].endswith("Route")
    assert "anyOf" in router.get_input_schema().model_json_schema()


@pytest.mark.parametrize(
    "bad", [42, None, {"history": []}, {"question": 3}, {"question": "x", "language": 5}]
)
def test_bad_input_is_a_clear_error(bad):
    with pytest.raises(ValueError, match=r"question|language"):
        LanguageRouter().invoke(bad)


def test_route_returns_sorted_languages_and_plain_data():
    r = route("Rust, Python and C#: same connection string?")
    assert r.languages == ("dotnet", "python", "rust")
    assert r.to_dict()["languages"] == ["dotnet", "python", "rust"]


# -- robustness ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_any_text_routes_to_registered_languages(text):
    r = route(text)
    assert list(r.languages) == sorted(set(r.languages))
    assert set(r.languages) <= set(LANGUAGES)
    assert r.reason


def test_long_pasted_text_is_cheap_to_route():
    log = "a-" * 200_000 + "\nModuleNotFoundError: No module named 'azure'"
    assert route(log).languages == ("python",)
    assert analyse("x" * 50_000).evidence == ()
