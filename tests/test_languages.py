"""The language registry: install commands per ecosystem, lookups, and registering a language."""

from __future__ import annotations

import re

import pytest

from azsdk_rag.languages import (
    LANGUAGES,
    MEDIUM,
    Cue,
    Installer,
    Language,
    ManifestReader,
    fence_language,
    get_language,
    language_ids,
    load_language,
    names,
    register_language,
    registered,
    resolve_language,
    slash_command,
    term,
    unregister_language,
    unsupported_cues,
)

BUILTINS = ("dotnet", "java", "javascript", "python", "rust")


@pytest.fixture(autouse=True)
def registry_unchanged():
    """Every test leaves the global registry as it found it."""
    before = dict(LANGUAGES)
    yield
    assert dict(LANGUAGES) == before


# -- install commands ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "package", "expected", "fence"),
    [
        ("python", "azure-storage-blob", "pip install azure-storage-blob", "bash"),
        ("javascript", "@azure/storage-blob", "npm install @azure/storage-blob", "bash"),
        ("javascript", "@azure-rest/ai-vision", "npm install @azure-rest/ai-vision", "bash"),
        ("dotnet", "Azure.Storage.Blobs", "dotnet add package Azure.Storage.Blobs", "bash"),
        ("rust", "azure_storage_blob", "cargo add azure_storage_blob", "bash"),
    ],
)
def test_install_command_per_ecosystem(language, package, expected, fence):
    lang = get_language(language)
    assert lang.install_command(package) == expected
    assert lang.install_fence == fence


@pytest.mark.parametrize(
    ("language", "package", "version", "expected"),
    [
        # A stable version is left out: the plain command installs the latest.
        ("python", "azure-identity", "1.19.0", "pip install azure-identity"),
        ("javascript", "@azure/identity", "4.5.0", "npm install @azure/identity"),
        ("dotnet", "Azure.Identity", "1.13.0", "dotnet add package Azure.Identity"),
        ("rust", "azure_identity", "0.21.0", "cargo add azure_identity"),
        # A pre-release is pinned, or the plain command would not install it.
        ("python", "azure-ai-agents", "1.0.0b2", "pip install azure-ai-agents==1.0.0b2"),
        ("javascript", "@azure/openai", "2.0.0-beta.1", "npm install @azure/openai@2.0.0-beta.1"),
        (
            "dotnet",
            "Azure.AI.OpenAI",
            "2.1.0-beta.2",
            "dotnet add package Azure.AI.OpenAI --version 2.1.0-beta.2",
        ),
        ("rust", "azure_core", "1.2.0-beta.1", "cargo add azure_core@1.2.0-beta.1"),
    ],
)
def test_versions_are_pinned_only_when_needed(language, package, version, expected):
    assert get_language(language).install_command(package, version) == expected


def test_maven_dependency_with_version_and_default_group():
    java = get_language("java")
    assert java.install_fence == "xml"
    assert java.install_command("azure-storage-blob", "12.28.1") == (
        "<dependency>\n"
        "    <groupId>com.azure</groupId>\n"
        "    <artifactId>azure-storage-blob</artifactId>\n"
        "    <version>12.28.1</version>\n"
        "</dependency>"
    )


def test_maven_dependency_without_version_and_with_own_group():
    snippet = get_language("java").install_command(
        "azure-resourcemanager-storage", group="com.azure.resourcemanager"
    )
    assert "<groupId>com.azure.resourcemanager</groupId>" in snippet
    assert "<artifactId>azure-resourcemanager-storage</artifactId>" in snippet
    assert "<version>" not in snippet


@pytest.mark.parametrize("package", ["", "   ", "azure-x; rm -rf /", "a b", "$(whoami)"])
def test_install_command_rejects_bad_package_names(package):
    with pytest.raises(ValueError, match="package"):
        get_language("python").install_command(package)


def test_install_command_rejects_bad_versions():
    with pytest.raises(ValueError, match="version"):
        get_language("javascript").install_command("@azure/identity", "1.0 && evil")


def test_language_without_installer_says_so():
    lang = Language(id="cobolish", name="Cobolish", slash_commands=("/cobolish",))
    with pytest.raises(ValueError, match="No install command is known for Cobolish"):
        lang.install_command("x")
    assert lang.install_fence == "text"


# -- registry and lookups --------------------------------------------------------------------------


def test_builtin_languages_are_registered_in_order():
    assert language_ids() == BUILTINS
    assert tuple(LANGUAGES) == BUILTINS
    assert get_language("dotnet").name == ".NET"


def test_languages_view_is_read_only():
    with pytest.raises(TypeError):
        LANGUAGES["go"] = get_language("python")  # type: ignore[index]


def test_unknown_language_error_names_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown language 'cobol'; known: dotnet, java"):
        get_language("cobol")


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("python", "python"),
        ("Python", "python"),
        ("py", "python"),
        ("/py", "python"),
        ("C#", "dotnet"),
        ("csharp", "dotnet"),
        (".NET", "dotnet"),
        ("net", "dotnet"),
        ("TypeScript", "javascript"),
        ("ts", "javascript"),
        ("JavaScript/TypeScript", "javascript"),
        ("java", "java"),
        (" Rust ", "rust"),
    ],
)
def test_resolve_language_accepts_ids_names_and_commands(spelling, expected):
    assert resolve_language(spelling).id == expected


@pytest.mark.parametrize("spelling", ["", "golang", "netflix", "jav"])
def test_resolve_language_rejects_others(spelling):
    with pytest.raises(ValueError):
        resolve_language(spelling)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/javascript list blobs", ("javascript", "/javascript")),
        ("/JS list blobs", ("javascript", "/JS")),
        ("/java list blobs", ("java", "/java")),
        ("  /py: list blobs", ("python", "/py")),
        ("/c# list blobs", ("dotnet", "/c#")),
        ("/.NET list blobs", ("dotnet", "/.NET")),
        ("/net", ("dotnet", "/net")),
        ("/netflix stream a video", None),
        ("/network private endpoints", None),
        ("/pyramid", None),
        ("/javafx", None),
        ("use /js here", None),
        ("list blobs", None),
    ],
)
def test_slash_command_is_leading_case_insensitive_and_on_a_word_boundary(text, expected):
    found = slash_command(text)
    assert (None if found is None else (found[0].id, found[1])) == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("python", "python"),
        ("PY", "python"),
        ("ts", "javascript"),
        ("csharp", "dotnet"),
        ("cs", "dotnet"),
        ("kotlin", "java"),
        ("rs", "rust"),
        ("xml", None),
        ("bash", None),
    ],
)
def test_fence_tags(tag, expected):
    lang = fence_language(tag)
    assert (lang.id if lang else None) == expected


@pytest.mark.parametrize(
    ("language", "package", "expected"),
    [
        ("python", "azure-storage-blob", True),
        ("java", "azure-storage-blob", True),  # pip names and Maven artifact ids look alike
        ("javascript", "@azure/storage-blob", True),
        ("javascript", "azure-storage-blob", False),
        ("dotnet", "Azure.Storage.Blobs", True),
        ("dotnet", "Microsoft.Azure.Cosmos", True),
        ("dotnet", "Newtonsoft.Json", False),
        ("rust", "azure_storage_blob", True),
        ("rust", "azure-storage-blob", False),
    ],
)
def test_package_name_shapes(language, package, expected):
    assert get_language(language).matches_package(package) is expected


# -- term boundaries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "text", "matches"),
    [
        (("Java",), "a Java app", True),
        (("Java",), "a JavaScript app", False),
        (("Java",), "Java-based tools", True),
        (("Rust",), "Rust-Oleum paint", False),
        (("Rust",), "I'm rusty", False),
        (("Rust",), "a rust-lang crate", True),
        (("py",), "happy copy", False),
        (("py",), "sentiment, py", True),
        ((".NET",), "the .NET SDK", True),
        ((".NET",), "blob.core.windows.net", False),
        (("C#",), "in C#?", True),
        (("C#",), "in C", False),
        (("dotnet",), "dotnetwork", False),
    ],
)
def test_term_matches_whole_words_only(words, text, matches):
    assert bool(re.search(term(*words), text, re.IGNORECASE)) is matches


def test_term_needs_a_word():
    with pytest.raises(ValueError):
        term()


# -- registering a language ------------------------------------------------------------------------


def _go(**overrides) -> Language:
    fields = dict(
        id="go",
        name="Go",
        slash_commands=("/go", "/golang"),
        fence_tags=("go", "golang"),
        cues=(names("golang", "go get", "go.mod"), Cue(r"\bGo\b", MEDIUM, case_sensitive=True)),
        package_pattern=r"github\.com/Azure/azure-sdk-for-go/.+",
        installer=Installer("go get {package}", pinned="go get {package}@v{version}"),
    )
    fields.update(overrides)
    return Language(**fields)


def test_register_and_unregister_a_language():
    go = register_language(_go())
    try:
        assert language_ids() == (*BUILTINS, "go")
        assert get_language("go") is go
        assert slash_command("/go upload")[0] is go
        assert fence_language("golang") is go
        assert go.install_command("github.com/Azure/azure-sdk-for-go/sdk/azidentity") == (
            "go get github.com/Azure/azure-sdk-for-go/sdk/azidentity"
        )
        # Go is served now, so naming it no longer means "a language we lack".
        assert all(c.label != "Go" for c in unsupported_cues())
    finally:
        assert unregister_language("go") is go
    assert "go" not in LANGUAGES
    assert any(c.label == "Go" for c in unsupported_cues())


def test_registered_context_manager_restores_the_registry():
    with registered(_go()):
        assert "go" in LANGUAGES
    assert "go" not in LANGUAGES


def test_registered_context_manager_restores_a_replaced_builtin():
    python = get_language("python")
    other = Language(id="python", name="Snake", slash_commands=("/snake",))
    with registered(other):
        assert get_language("python").name == "Snake"
    assert get_language("python") is python


def test_register_rejects_a_duplicate_id():
    with pytest.raises(ValueError, match="already registered"):
        register_language(get_language("python"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"slash_commands": ("/go", "/py")}, r"slash command /py is Python's"),
        ({"fence_tags": ("go", "rs")}, r"code-fence tag 'rs' is Rust's"),
    ],
)
def test_register_rejects_clashes(overrides, message):
    with pytest.raises(ValueError, match=message):
        register_language(_go(**overrides))
    assert "go" not in LANGUAGES


def test_register_rejects_non_languages():
    with pytest.raises(TypeError):
        register_language("go")  # type: ignore[arg-type]


def test_unregister_unknown_language():
    with pytest.raises(ValueError, match="Unknown language"):
        unregister_language("go")


@pytest.mark.parametrize(
    "overrides",
    [
        {"id": "Go"},
        {"id": ""},
        {"name": " "},
        {"slash_commands": ("go",)},
        {"slash_commands": ("/go lang",)},
        {"fence_tags": ("go lang",)},
        {"package_pattern": "(unclosed"},
    ],
)
def test_language_validates_its_fields(overrides):
    with pytest.raises(ValueError):
        _go(**overrides)


@pytest.mark.parametrize(
    "kwargs",
    [{"pattern": "(unclosed"}, {"pattern": "x", "weight": 5}, {"pattern": "x", "kind": "guess"}],
)
def test_cue_validates_its_fields(kwargs):
    with pytest.raises(ValueError):
        Cue(**kwargs)


def test_language_normalises_commands_and_tags_to_lower_case():
    lang = _go(slash_commands=("/GO",), fence_tags=("Go",))
    assert lang.slash_commands == ("/go",)
    assert lang.fence_tags == ("go",)


# -- what ingest asks of a language ----------------------------------------------------------------


def test_the_builtins_name_their_sdk_repositories():
    assert {lang.id: lang.repository for lang in map(get_language, BUILTINS)} == {
        "dotnet": "azure-sdk-for-net",
        "java": "azure-sdk-for-java",
        "javascript": "azure-sdk-for-js",
        "python": "azure-sdk-for-python",
        "rust": "azure-sdk-for-rust",
    }


@pytest.mark.parametrize(
    ("language", "package", "management"),
    [
        ("python", "azure-mgmt-storage", True),
        ("python", "azure-storage-blob", False),
        ("javascript", "@azure/arm-storage", True),
        ("javascript", "@azure-rest/arm-compute", True),
        ("javascript", "@azure/storage-blob", False),
        ("java", "azure-resourcemanager-storage", True),
        ("java", "azure-storage-blob", False),
        ("dotnet", "Azure.ResourceManager.Storage", True),
        ("dotnet", "Microsoft.Azure.Management.Storage", True),
        ("dotnet", "Azure.Storage.Blobs", False),
        ("rust", "azure_mgmt_storage", True),
        ("rust", "azure_storage_blob", False),
    ],
)
def test_management_packages_follow_each_language_s_rule(language, package, management):
    assert get_language(language).is_management(package) is management


def test_a_language_without_a_reader_or_rule_reads_no_manifest(tmp_path):
    lang = _go()
    assert lang.read_manifest(tmp_path) is None
    assert not lang.is_management("github.com/Azure/azure-sdk-for-go/sdk/armstorage")


def test_a_manifest_reader_treats_a_broken_manifest_as_no_package(tmp_path):
    (tmp_path / "package.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "Cargo.toml").write_text("[package\n", encoding="utf-8")
    (tmp_path / "pom.xml").write_text("<project>", encoding="utf-8")
    for language in ("javascript", "rust", "java", "python", "dotnet"):
        assert get_language(language).read_manifest(tmp_path) is None
    with pytest.raises(ValueError, match="file names"):
        ManifestReader((), lambda folder: None)


def test_a_language_can_be_read_from_toml_data():
    go = load_language(
        'id = "go"\nname = "Go"\nslash_commands = ["/go"]\nrepository = "azure-sdk-for-go"\n'
        "cues = [\n"
        '  { names = ["golang"] },\n'
        "  { code = '${camel}', weight = \"weak\", label = \"camelCase\" },\n"
        "  { name = '\\bGo\\b', weight = \"medium\", case_sensitive = true },\n"
        "]\n"
    )
    assert (go.id, go.slash_commands, go.repository) == ("go", ("/go",), "azure-sdk-for-go")
    assert [(c.kind, c.weight, c.label) for c in go.cues] == [
        ("name", 3, ""), ("code", 1, "camelCase"), ("name", 2, "")]
    assert go.cues[1].regex.search("blobClient") and go.cues[2].regex.search("in Go")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('manifest_reader = "gomod"', r"Unknown manifest reader 'gomod'; known: python, npm"),
        ("cues = [{ code = 'x', weight = \"loud\" }]", "weight must be strong, medium or weak"),
        ("cues = [{ code = '${nowhere}' }]", r"Unknown pattern fragment \$\{nowhere\}"),
        ("cues = [{ label = \"x\" }]", "A cue needs 'names', 'name' or 'code'"),
        ('repository = "https://github.com/Azure/x"', "must be one name"),
        ("management_pattern = '(unclosed'", "management_pattern of 'go' is not a valid regex"),
    ],
)
def test_bad_language_data_is_one_clear_error(data, message):
    with pytest.raises(ValueError, match=message):
        load_language(f'id = "go"\nname = "Go"\nslash_commands = ["/go"]\n{data}\n')
