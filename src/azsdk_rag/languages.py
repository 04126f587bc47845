"""The one place that knows the SDK languages: ids, slash commands, text and code cues, installs.

Everything here is data. The router reads the cues, the answerer reads
:meth:`Language.install_command`, the sources read :meth:`Language.matches_package`. A user
serves one more language by calling :func:`register_language` with a :class:`Language` of their
own; nothing else needs to change.

Cues carry a weight because evidence is not equal: "pip" or "Cargo.toml" settles the language,
"node" (AKS node pools) or a camelCase identifier (JavaScript *and* Java) only hints at it.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Literal

STRONG = 3
"""Settles the language by itself: a language or tool name, a manifest file, unmistakable code."""
MEDIUM = 2
"""Names the language but with some doubt (a short word that has other meanings)."""
WEAK = 1
"""A hint only: shared by several ecosystems or common words; never adds a language by itself
when a stronger cue exists."""

CueKind = Literal["name", "code"]

# A language word glued to another word by a hyphen ("Rust-Oleum", "Java-Script") is a different
# word, except for these ordinary English compounds ("Python-based", "rust-lang", "C#-side").
_COMPOUNDS = (
    "based|like|only|specific|side|native|friendly|style|compatible|first|centric|powered|"
    "written|flavored|sdk|sdks|client|clients|app|apps|code|lang|version|versions|equivalent|"
    "project|projects|service|services|backend|library|libraries|package|packages|developer|"
    "developers|dev|devs|land|world|team|way|ecosystem|port"
)
_LEFT = r"(?<![\w#+@])"
_RIGHT = rf"(?![\w#+])(?!-(?!(?:{_COMPOUNDS})\b)[A-Za-z])"


def term(*words: str) -> str:
    """A regex matching any of ``words`` as whole words (see :data:`_COMPOUNDS` for hyphens).

    Word boundaries are what keep "java" out of "javascript", "py" out of "happy" and ".NET" out
    of "network"; symbols in a word ("C#", ".NET", "Node.js") are escaped.
    """
    if not words:
        raise ValueError("term() needs at least one word.")
    alternatives = "|".join(
        (r"(?<![\w.#+@])" if w[:1] == "." else _LEFT) + re.escape(w)
        for w in sorted(words, key=len, reverse=True)
    )
    return rf"(?:{alternatives}){_RIGHT}"


@dataclass(frozen=True)
class Cue:
    """One piece of evidence that text is about a language.

    ``kind`` is ``"name"`` when the text *names* the language (a language, tool, framework, file
    or package name: several named languages are all picked) and ``"code"`` when it only *looks
    like* the language (pasted code, an error message: the best-matching language wins).
    ``label`` names the evidence in a route's reason; empty means "the matched text".
    """

    pattern: str
    weight: int = STRONG
    kind: CueKind = "name"
    label: str = ""
    case_sensitive: bool = False

    def __post_init__(self) -> None:
        if self.weight not in (WEAK, MEDIUM, STRONG):
            raise ValueError(f"Cue weight must be 1, 2 or 3, not {self.weight!r}.")
        if self.kind not in ("name", "code"):
            raise ValueError(f"Cue kind must be 'name' or 'code', not {self.kind!r}.")
        try:
            self.regex  # noqa: B018 - compile now so a bad pattern fails at definition time
        except re.error as exc:
            raise ValueError(f"Cue pattern {self.pattern!r} is not a valid regex: {exc}.") from None

    @cached_property
    def regex(self) -> re.Pattern[str]:
        flags = re.MULTILINE | (0 if self.case_sensitive else re.IGNORECASE)
        return re.compile(self.pattern, flags)


def names(*words: str, weight: int = STRONG, case_sensitive: bool = False) -> Cue:
    """A name cue for whole words: the usual way to list a language's names, tools and files."""
    return Cue(term(*words), weight=weight, kind="name", case_sensitive=case_sensitive)


def code(pattern: str, weight: int = STRONG, label: str = "", case_sensitive: bool = True) -> Cue:
    """A code-shape cue. Case-sensitive by default: code is."""
    return Cue(pattern, weight=weight, kind="code", label=label, case_sensitive=case_sensitive)


_PRERELEASE = re.compile(r"[A-Za-z]")
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9@][A-Za-z0-9@._/+-]*$")


@dataclass(frozen=True)
class Installer:
    """How an ecosystem installs a package: templates of ``{package}``, ``{version}``, ``{group}``.

    Stable versions are left out (the command installs the latest, which is what a reader wants),
    except where the ecosystem always needs one (Maven: ``always_pin``). Pre-releases are pinned,
    since the plain command would not install them.
    """

    command: str
    pinned: str = ""
    fence: str = "bash"
    always_pin: bool = False
    default_group: str = ""

    def render(self, package: str, version: str = "", group: str = "") -> str:
        package, version, group = package.strip(), version.strip(), group.strip()
        if not package:
            raise ValueError("An install command needs a package name.")
        for what, value in (("package", package), ("version", version), ("group", group)):
            if value and not _SAFE_TOKEN.match(value):
                raise ValueError(f"Not a valid {what} name for an install command: {value!r}.")
        group = group or self.default_group
        pin = (
            bool(version)
            and bool(self.pinned)
            and (self.always_pin or bool(_PRERELEASE.search(version)))
        )
        template = self.pinned if pin else self.command
        return template.format(package=package, version=version, group=group)


@dataclass(frozen=True)
class Language:
    """Everything the package knows about one SDK language; see the built-ins below for examples.

    ``package_pattern`` is a full-match regex of the ecosystem's Azure package names; note that
    pip names and Maven artifact ids have the same shape, so it cannot tell those two apart.
    """

    id: str
    name: str
    slash_commands: tuple[str, ...]
    cues: tuple[Cue, ...] = ()
    fence_tags: tuple[str, ...] = ()
    package_pattern: str = ""
    installer: Installer | None = None
    editor_ids: tuple[str, ...] = ()
    """Editor language ids (VS Code's ``languageId``) of this language's source files."""
    manifests: tuple[str, ...] = ()
    """Project manifest file names, or ``fnmatch`` patterns such as ``*.csproj``."""
    support_packages: tuple[tuple[str, str], ...] = ()
    """``(topic, package)`` pairs: the READMEs that answer cross-cutting questions (``core``:
    retries, proxies, timeouts, HTTP transport, mocking; ``logging``; ``identity``:
    credentials), whichever service the question names."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", self.id):
            raise ValueError(f"Language id must be lower-case letters/digits, not {self.id!r}.")
        if not self.name.strip():
            raise ValueError(f"Language {self.id!r} needs a display name.")
        for command in self.slash_commands:
            if not re.fullmatch(r"/[^\s/]+", command):
                raise ValueError(f"Slash command {command!r} must be '/' and one word.")
        for tag in self.fence_tags:
            if not tag or any(c.isspace() for c in tag):
                raise ValueError(f"Code-fence tag {tag!r} must be one word.")
        # Normalise the spelling so lookups can compare lower-case strings.
        object.__setattr__(self, "slash_commands", tuple(c.lower() for c in self.slash_commands))
        object.__setattr__(self, "fence_tags", tuple(t.lower() for t in self.fence_tags))
        object.__setattr__(self, "editor_ids", tuple(e.lower() for e in self.editor_ids))
        if self.package_pattern:
            try:
                re.compile(self.package_pattern)
            except re.error as exc:
                raise ValueError(
                    f"package_pattern of {self.id!r} is not a valid regex: {exc}."
                ) from None

    def install_command(self, package: str, version: str = "", group: str = "") -> str:
        """A markdown-ready command (or Maven snippet) that installs ``package``."""
        if self.installer is None:
            raise ValueError(f"No install command is known for {self.name}.")
        return self.installer.render(package, version, group)

    @property
    def install_fence(self) -> str:
        """The code-fence tag to show :meth:`install_command` in."""
        return self.installer.fence if self.installer else "text"

    def matches_package(self, package: str) -> bool:
        """Whether ``package`` has this ecosystem's Azure package-name shape."""
        if not self.package_pattern:
            return False
        return re.fullmatch(self.package_pattern, package) is not None

    def support_package(self, topic: str) -> str | None:
        """The package answering ``topic`` questions (``logging`` falls back to ``core``)."""
        found = dict(self.support_packages)
        return found.get(topic) or (found.get("core") if topic == "logging" else None)

    def has_manifest(self, file_name: str) -> bool:
        """Whether ``file_name`` (a base name) is one of this ecosystem's project manifests."""
        return any(fnmatch.fnmatch(file_name.lower(), m.lower()) for m in self.manifests)


# -- the built-in languages ------------------------------------------------------------------------

# Shapes shared by several languages are listed once and added to each.
_CAMEL = r"\b[a-z]{2,}(?:[A-Z][a-z0-9]+)+\b"
_HYPHEN_PACKAGE = r"(?<![\w@/.-])azure-(?!mgmt-|resourcemanager-)[a-z0-9]+(?:-[a-z0-9]+)*\b"

# Hand-packed word lists read better than one word per line.
# fmt: off
PYTHON = Language(
    id="python",
    name="Python",
    slash_commands=("/python", "/py"),
    fence_tags=("python", "py", "python3", "py3", "pycon", "ipython", "pytb"),
    package_pattern=r"azure(?:-[a-z0-9]+)+",
    installer=Installer("pip install {package}", pinned="pip install {package}=={version}"),
    editor_ids=("python",),
    manifests=("pyproject.toml", "requirements.txt", "setup.py", "Pipfile"),
    support_packages=(("core", "azure-core"), ("identity", "azure-identity")),
    cues=(
        names(
            "Python", "python3", "CPython", "PyPI", "pip", "pip3", "pipx", "pipenv", "conda",
            "Anaconda", "Miniconda", "poetry", "virtualenv", "venv", "requirements.txt",
            "pyproject.toml", "setup.py", "Django", "FastAPI", "Flask", "pytest", "pandas",
            "NumPy", "Pydantic", "asyncio", "aiohttp", "uvicorn", "gunicorn", "Streamlit",
            "Celery", "SQLAlchemy", "mypy", "PySpark", "concurrent.futures",
        ),
        names("py", "aio", "Jupyter", weight=MEDIUM),
        Cue(r"(?<![\w@/.-])azure-mgmt\b", label="azure-mgmt-*"),
        Cue(r"\b\w+\.py\b", label=".py file"),
        Cue(_HYPHEN_PACKAGE, weight=WEAK),
        Cue(r"(?<![\w@/.-])azure-[a-z0-9]+(?:-[a-z0-9]+)*\s*(?:==|~=|>=)\s*\d", label="pip pin"),
        # pip names and Maven artifact ids look alike; Python posts call them packages or
        # modules, Java posts artifacts or dependencies.
        Cue(_HYPHEN_PACKAGE + r"\s+(?:package|module)\b", weight=WEAK, label="azure-* package"),
        code(r"\bfrom\s+[a-z_][\w]*(?:\.\w+)*\s+import\s+[\w(*]", label="Python import"),
        code(r"(?<![\w.@/-])import\s+azure\.[a-z]", label="Python import"),
        code(
            r"(?<![\w.@/-])azure\.(?!com\b|net\b|microsoft\b|cn\b|us\b)[a-z_]+\b",
            label="azure.* module",
        ),
        code(r"\bdef\s+\w+\s*\(", label="def"),
        code(r"\basync\s+(?:def|with|for)\b", label="async def/with/for"),
        code(r"\bwith\s+[\w.]+\([^)\n]*\)\s+as\s+\w+\s*:", label="with ... as"),
        code(r"^\s*except\b[^\n]*:\s*$", label="except"),
        code(r"\b__[a-z]+__\b", label="dunder"),
        code(r"\*\*kwargs\b|\bkwargs\b", label="kwargs"),
        code(r"(?<![\w.])print\(", weight=MEDIUM, label="print("),
        code(r"\blogging\.(?:getLogger|basicConfig|DEBUG|INFO|WARNING)\b", label="logging module"),
        code(r"Traceback \(most recent call last\)", label="Python traceback"),
        code(r"\bFile \"[^\"\n]+\", line \d+", label="Python traceback"),
        code(
            r"\bNo module named\b|\b(?:ModuleNotFoundError|ImportError|AttributeError|"
            r"IndentationError|NameError|ValueError|KeyError)\b",
            label="Python exception",
        ),
        code(
            r"\b(?:HttpResponseError|ResourceNotFoundError|ResourceExistsError|"
            r"ResourceModifiedError|ClientAuthenticationError|ServiceRequestError|"
            r"ServiceResponseError|CredentialUnavailableError|AzureError)\b",
            label="azure-core exception",
        ),
        code(
            r"\b\w+\([^()\n]*\b[a-z_][a-z0-9_]*=(?![=>])", weight=MEDIUM, label="keyword argument"
        ),
        code(r"\bself\.\w", weight=WEAK, label="self."),
        code(r"\bThreadPoolExecutor\b", weight=WEAK),
        # snake_case calls and long snake_case names: Python's (and Rust's) method shape.
        code(r"\b(?!azure_)[a-z][a-z0-9]*(?:_[a-z0-9]+)+\(", weight=WEAK, label="snake_case call"),
        code(
            r"\b(?!azure_)[a-z][a-z0-9]*(?:_[a-z0-9]+){2,}\b", weight=WEAK, label="snake_case name"
        ),
    ),
)

JAVASCRIPT = Language(
    id="javascript",
    name="JavaScript/TypeScript",
    slash_commands=("/js", "/javascript", "/ts", "/typescript"),
    fence_tags=(
        "js", "javascript", "ts", "typescript", "jsx", "tsx", "mjs", "cjs", "node", "nodejs",
    ),
    package_pattern=r"@azure(?:-rest)?/[a-z0-9][a-z0-9.-]*",
    installer=Installer("npm install {package}", pinned="npm install {package}@{version}"),
    editor_ids=(
        "javascript", "typescript", "javascriptreact", "typescriptreact", "vue", "svelte",
    ),
    manifests=("package.json",),
    support_packages=(
        ("core", "@azure/core-rest-pipeline"), ("logging", "@azure/logger"),
        ("identity", "@azure/identity"),
    ),
    cues=(
        names(
            "JavaScript", "TypeScript", "JS", "ECMAScript", "Node.js", "NodeJS", "Deno", "npm",
            "npx", "yarn", "pnpm", "package.json", "package-lock.json", "tsconfig.json",
            "tsconfig", "node_modules", "Next.js", "Nuxt", "NestJS", "Angular", "Vue", "Vue.js",
            "Svelte", "Electron", "webpack", "Vite", "esbuild", "Jest", "Mocha", "Vitest", "ESM",
            "CommonJS", "React.js", "Express.js", "rhea",
        ),
        names("TS", "ES modules", "Rollup", weight=MEDIUM),
        # "node" the runtime, not a Kubernetes/Batch/tree node.
        Cue(
            r"(?<![\w.])(?<!compute )(?<!cluster )(?<!worker )(?<!agent )(?<!system )"
            r"(?<!kubernetes )(?<!aks )(?<!batch )(?<!pool )(?<!master )(?<!each )(?<!every )"
            r"(?<!per )(?<!virtual )(?<!vm )(?<!tree )(?<!xml )(?<!json )(?<!graph )(?<!edge )"
            r"node(?![\w#+.])(?!-(?!(?:" + _COMPOUNDS + r")\b)[A-Za-z])"
            r"(?!\s+(?:pools?|count|size|groups?|images?|selectors?|affinity|taints?|labels?|"
            r"types?|sku|resource|ids?|names?)\b)",
            weight=MEDIUM,
        ),
        Cue(r"\bReact(?!\s+to\b)(?![\w-])", weight=MEDIUM, case_sensitive=True),
        Cue(
            r"\breact(?=\s+(?:apps?|components?|hooks?|native|spa|frontend|front-end|projects?|"
            r"router|query)\b)",
            label="React",
        ),
        Cue(r"\bExpress\b", weight=WEAK, case_sensitive=True),
        Cue(
            r"\bexpress(?=\s+(?:apps?|middleware|servers?|routes?|router|api|endpoints?|"
            r"handlers?|backend)\b)",
            label="Express",
        ),
        Cue(r"(?<![\w.-])@azure(?:-rest)?/[a-z0-9][a-z0-9.-]*", label="@azure/* package"),
        Cue(r"\b\w+\.(?:m?js|cjs|tsx?|jsx)\b(?!-)", label=".js/.ts file"),
        code(r"\brequire\(\s*[\"'`]", label="require("),
        code(
            r"\bimport\s+(?:type\s+)?(?:\{[^}\n]*\}|\*\s+as\s+\w+|\w+)(?:\s*,\s*\{[^}\n]*\})?"
            r"\s+from\s+[\"']",
            label="ES import",
        ),
        code(r"\bconst\s+(?:\w+|\{[^}\n]*\}|\[[^\]\n]*\])\s*=", label="const"),
        code(r"\bconsole\.(?:log|error|warn|info|debug)\(", label="console.log"),
        code(r"\bprocess\.env\b", label="process.env"),
        code(r"\bmodule\.exports\b", label="module.exports"),
        code(r"\bexport\s+(?:default|const|function|async|class|interface|type)\b", label="export"),
        code(r"\bfunction\*?(?:\s+\w+)?\s*\([^)\n]*\)\s*[{:]", label="function"),
        code(r"\bfor\s+await\s*\(", label="for await"),
        code(r"[(,]\s*\{\s*[A-Za-z_]\w*\s*:(?!:)", weight=MEDIUM, label="options object"),
        code(r"\bawait\s+[\w.]*\.[a-z]+[A-Z]\w*\(", label="await camelCase call"),
        Cue(r"\b(?:an?|the|returns?|returning|resolves?|awaits?|awaiting)\s+promises?\b",
            weight=MEDIUM, label="a promise"),
        code(r"\bnew\s+Promise\b|\bPromise<", label="Promise"),
        code(r"\bPromise\b", weight=MEDIUM),
        code(r"\.then\(", weight=MEDIUM, label=".then("),
        code(
            r"\(\s*\w+\??:\s*(?:string|number|boolean)\b|\b(?:let|const|var)\s+\w+\s*:\s*"
            r"(?:string|number|boolean)\b|\):\s*Promise<",
            label="TypeScript type",
        ),
        code(r"\b(?:fromConnectionString|pollUntilDone|setLogLevel)\b", weight=MEDIUM),
        code(r"\bAbort(?:Controller|Signal)\b", weight=MEDIUM),
        code(r"\bDEBUG=azure", label="DEBUG=azure*"),
        code(r"\bAZURE_LOG_LEVEL\b", weight=WEAK),
        code(
            r"Cannot find module|\bERR_[A-Z_]{3,}\b|TypeError: Cannot read propert|"
            r"is not a function\b|UnhandledPromiseRejection|ReferenceError:|"
            r"SyntaxError: Unexpected token|\.m?js:\d+:\d+",
            label="Node.js error",
        ),
        code(r"\blet\s+\w+\s*=", weight=WEAK, label="let"),
        # camelCase: JavaScript option properties and methods; Java methods (with a call only).
        code(_CAMEL + r"(?!\s*\()", weight=WEAK, label="camelCase name"),
        code(_CAMEL + r"(?=\s*\()", weight=WEAK, label="camelCase call"),
    ),
)

JAVA = Language(
    id="java",
    name="Java",
    slash_commands=("/java",),
    fence_tags=("java", "kotlin", "kt", "kts", "groovy", "gradle", "scala"),
    package_pattern=r"azure(?:-[a-z0-9]+)+",
    installer=Installer(
        "<dependency>\n    <groupId>{group}</groupId>\n    <artifactId>{package}</artifactId>\n"
        "</dependency>",
        pinned="<dependency>\n    <groupId>{group}</groupId>\n"
        "    <artifactId>{package}</artifactId>\n    <version>{version}</version>\n</dependency>",
        fence="xml",
        always_pin=True,
        default_group="com.azure",
    ),
    editor_ids=("java", "kotlin", "groovy"),
    manifests=("pom.xml", "build.gradle", "build.gradle.kts"),
    support_packages=(("core", "azure-core"), ("identity", "azure-identity")),
    cues=(
        names(
            "Java", "Kotlin", "Scala", "Groovy", "JVM", "JDK", "JRE", "OpenJDK", "Maven", "mvn",
            "Gradle", "pom.xml", "build.gradle", "build.gradle.kts", "Spring Boot",
            "Spring Cloud", "Spring Framework", "Spring Data", "WebFlux", "spring-boot",
            "Quarkus", "Micronaut", "Jakarta EE", "Java EE", "JUnit", "Mockito", "Log4j", "SLF4J",
            "Logback", "Netty", "OkHttp", "Lombok", "Project Reactor", "reactor-core", "groupId",
            "artifactId",
        ),
        names("IntelliJ", "Android", weight=MEDIUM),
        # "Spring" the framework, not the season at the start of a sentence.
        Cue(
            r"\bSpring(?=\s+(?:apps?|application|services?|projects?|beans?|starters?|config|"
            r"configuration|Integration|Security)\b)",
            label="Spring",
            case_sensitive=True,
        ),
        Cue(r"(?<=[^\s.!?:]\s)Spring\b", weight=MEDIUM, case_sensitive=True),
        Cue(r"<(?:groupId|artifactId|dependency)>", label="Maven <dependency>"),
        Cue(r"(?<![\w.])com\.(?:microsoft\.)?azure\b", label="com.azure"),
        Cue(r"(?<![\w@/.-])azure-resourcemanager\b", label="azure-resourcemanager"),
        # Maven/Gradle coordinates: group:artifact:version or artifact:version (pip pins '==').
        Cue(
            r"(?<![\w@/.-])(?:[a-z][\w-]*(?:\.[a-z][\w-]*)+:)?azure-[a-z0-9]+(?:-[a-z0-9]+)*:"
            r"\d+\.\d+",
            label="Maven coordinates",
        ),
        Cue(r"\b\w+\.(?:java|kt|kts|jar)\b", label=".java file"),
        Cue(_HYPHEN_PACKAGE, weight=WEAK),
        Cue(_HYPHEN_PACKAGE + r"\s+(?:artifact|dependency)\b", weight=WEAK,
            label="azure-* artifact"),
        code(r"\bimport\s+(?:static\s+)?[a-z]\w*(?:\.\w+)+(?:\.\*)?\s*;", label="Java import"),
        code(r"\bpublic\s+static\s+void\s+main\b", label="public static void main"),
        code(r"\bSystem\.(?:out|err)\.print|\bSystem\.getenv\(", label="System.out"),
        code(r"\.build(?:Async)?Client\(\)", label=".buildClient()"),
        code(r"\bnew\s+\w+Builder\(\)", weight=MEDIUM, label="new ...Builder()"),
        # Java's naming: BlobAsyncClient, SecretClientBuilder, ManagedIdentityCredentialBuilder.
        code(r"\b[A-Z]\w*(?:AsyncClient|ClientBuilder|CredentialBuilder)\b", weight=MEDIUM),
        code(r"\b(?:PagedFlux|PagedIterable|SyncPoller|PollerFlux)\b"),
        # Java's paged results are Iterables: .iterator(), .iterableByPage(), .streamByPage().
        code(r"\.(?:iterator|iterableByPage|streamByPage)\b", weight=MEDIUM, label=".iterator()"),
        code(r"\b(?:Mono|Flux)\b", weight=MEDIUM),
        code(r"\b(?:waitForCompletion|getFinalResult)\b|\.block\(\)", weight=MEDIUM),
        code(r"\bString\s+[a-z]\w*\s*=", weight=MEDIUM, label="String x ="),
        code(
            r"@(?:Override|Autowired|Bean|SpringBootApplication|RestController)\b",
            label="Java annotation",
        ),
        code(
            r"Exception in thread \"|\.java:\d+\)|\bat (?:com|org|java|io|reactor)\.[\w.$]+\(",
            label="Java stack trace",
        ),
        code(r"\bjava\.(?:lang|util|io|net|time)\.", label="java.*"),
        code(
            r"\b(?:NullPointerException|ClassNotFoundException|NoClassDefFoundError|"
            r"NoSuchMethodError|IllegalArgumentException|IllegalStateException|"
            r"HttpResponseException|ResourceNotFoundException|ResourceExistsException|"
            r"ClientAuthenticationException|ResourceModifiedException)\b",
            label="Java exception",
        ),
        code(r"Caused by: ", weight=MEDIUM, label="Caused by:"),
        # An exception class in a lower-case dotted package (javax.net.ssl.SSLHandshakeException,
        # sun.security...SunCertPathBuilderException) is Java's shape; C# namespaces are
        # PascalCase, Python's errors end in "Error".
        code(r"\b[a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)+\.[A-Z]\w*Exception\b",
             label="Java exception"),
        code(r"\b[A-Z]\w*[a-z]Exception\b", weight=WEAK, label="...Exception"),
        code(_CAMEL + r"(?=\s*\()", weight=WEAK, label="camelCase call"),
    ),
)

DOTNET = Language(
    id="dotnet",
    name=".NET",
    slash_commands=("/net", "/.net", "/dotnet", "/csharp", "/c#"),
    fence_tags=(
        "csharp", "cs", "c#", "fsharp", "fs", "f#", "vb", "vbnet", "dotnetcli", "razor", "cshtml",
    ),
    package_pattern=r"(?:Microsoft\.)?Azure(?:\.[A-Za-z0-9]+)+",
    installer=Installer(
        "dotnet add package {package}", pinned="dotnet add package {package} --version {version}"
    ),
    editor_ids=("csharp", "fsharp", "vb"),
    manifests=("*.csproj", "*.fsproj", "*.vbproj", "*.sln", "*.slnx"),
    support_packages=(("core", "Azure.Core"), ("identity", "Azure.Identity")),
    cues=(
        names(
            "C#", "C-sharp", "csharp", "F#", "fsharp", "VB.NET", ".NET", "dotnet", "ASP.NET",
            "ASP.NET Core", "ADO.NET", "Blazor", "MAUI", "Xamarin", "WPF", "WinForms",
            "Windows Forms", "NuGet", "Install-Package", "PackageReference", "appsettings.json",
            "xUnit", "NUnit", "MSTest", "Moq", "LINQ", "Entity Framework", "EF Core",
            "Microsoft.Extensions.Azure", "AddAzureClients", "AzureEventSourceListener", "csproj",
        ),
        names("isolated worker", weight=MEDIUM),
        Cue(r"\b\w+\.(?:cs|csproj|fsproj|vbproj|sln|fsx|cshtml|razor)\b", label=".cs file"),
        Cue(
            r"(?<![\w.@/-])(?:Microsoft\.)?Azure\.[A-Z][A-Za-z0-9]+(?:\.[A-Z][A-Za-z0-9]*)*",
            label="Azure.* namespace",
            case_sensitive=True,
        ),
        code(r"\busing\s+(?:Azure|System|Microsoft)(?:\.\w+)*\s*;", label="using"),
        code(r"\bawait\s+(?:using|foreach)\b", label="await using"),
        code(r"\bConsole\.(?:WriteLine|Write|ReadLine)\(", label="Console.WriteLine"),
        code(r"\bnew\s+Uri\(", label="new Uri("),
        code(r"\bvar\s+\w+\s*=\s*(?:new|await)\b", weight=MEDIUM, label="var x = new"),
        code(r"\b[A-Z][a-z0-9]\w*?Async\b", label="...Async method"),
        code(
            r"\.(?:Get|Set|Create|Delete|Update|Upload|Download|Send|Receive|Start|Stop|List|"
            r"Query|Add|Begin|Complete|Close|Dispose)(?:[A-Z]\w*)?\(",
            weight=MEDIUM,
            label="PascalCase method",
        ),
        code(
            r"\b(?:Task|ValueTask|IEnumerable|IAsyncEnumerable|AsyncPageable|Pageable|IList|"
            r"IDictionary)<",
            label="C# generic",
        ),
        code(r"\bCancellationToken\b|\bIServiceCollection\b|\bbuilder\.Services\b"),
        code(
            r"\b(?:RequestFailedException|AuthenticationFailedException)\b", label=".NET exception"
        ),
        code(r"\b[A-Z]\w*[a-z]Exception\b", weight=WEAK, label="...Exception"),
        code(
            r"\bSystem\.\w+(?:\.\w+)*Exception\b|\bin\s+\S+\.cs:line\s+\d+", label=".NET exception"
        ),
        code(r"\b(?:CS|NU|MSB)\d{4}\b", label="compiler error code"),
        # .NET naming: interfaces are I + PascalCase (IServiceProvider, ITopicClient), static
        # members PascalCase (TableQuery.GenerateFilterCondition(...)), and object initializers
        # set properties with "=" (new SearchOptions { Size = 10 }).
        code(r"\bI[A-Z][a-z]{2,}\w*\b", weight=MEDIUM, label="C# interface name"),
        code(r"\b[A-Z]\w*\.[A-Z][a-z]+[A-Z]\w*\(", weight=MEDIUM, label="PascalCase static call"),
        code(
            r"\bnew\s+[A-Z][\w.]*(?:<[^<>\n]*>)?(?:\([^()\n]*(?:\([^()\n]*\)[^()\n]*)*\))?\s*"
            r"\{\s*[A-Z]\w*\s*=(?!=)",
            label="C# object initializer",
        ),
        Cue(
            r"(?<![\w.])WindowsAzure\.[A-Z]\w+", label="WindowsAzure.* package", case_sensitive=True
        ),
        code(r"\bstring\s+[a-z]\w*\s*=", weight=MEDIUM, label="string x ="),
        code(
            r"\[(?:Fact|Theory|TestMethod|FunctionName|Function)\b",
            weight=MEDIUM,
            label="C# attribute",
        ),
        code(r"\b[a-z]\w*\.[A-Z][a-z]+(?:[A-Z][a-z0-9]*)*\(", weight=WEAK, label="PascalCase call"),
    ),
)

RUST = Language(
    id="rust",
    name="Rust",
    slash_commands=("/rust",),
    fence_tags=("rust", "rs"),
    package_pattern=r"azure_[a-z0-9_]+",
    installer=Installer("cargo add {package}", pinned="cargo add {package}@{version}"),
    editor_ids=("rust",),
    manifests=("Cargo.toml",),
    support_packages=(("core", "azure_core"), ("identity", "azure_identity")),
    cues=(
        names(
            "Rust", "rustc", "rustup", "rustls", "rust-analyzer", "cargo", "Cargo.toml",
            "Cargo.lock", "crates.io", "docs.rs", "tokio", "async-std", "reqwest", "serde",
            "clippy", "actix", "axum", "anyhow", "thiserror", "RUST_LOG",
        ),
        names("crate", "crates", "hyper", weight=MEDIUM),
        Cue(
            r"(?<![\w.])(?:azure|typespec)_(?:[a-z][a-z0-9_]*\b|\*)",
            label="azure_* crate",
            case_sensitive=True,
        ),
        Cue(r"\b\w+\.rs\b", label=".rs file"),
        code(r"\bfn\s+\w+", label="fn"),
        code(r"\blet\s+mut\b", label="let mut"),
        code(r"\.await\b", label=".await"),
        code(r"\buse\s+\w+(?:::[\w{}, *]+)+", label="use ...::"),
        code(r"\b\w+::<?\w+", weight=MEDIUM, label="::"),
        code(
            r"\b(?:println|eprintln|print|format|vec|assert|assert_eq|panic|write|writeln|dbg|"
            r"todo|unimplemented)!\s*[(\[{]",
            label="macro!",
        ),
        code(r"#\[(?:derive|tokio|cfg|test|allow)\b", label="#[attribute]"),
        code(r"&(?:str\b|mut\b|self\b|'\w)", label="&str"),
        code(r"\bpub\s+(?:fn|struct|enum|mod|async|trait)\b", label="pub fn"),
        code(r"\bOk\(\(\)\)|\.unwrap\(\)|\bBox<dyn\b", label="Ok(())"),
        code(r"\bimpl\s+[A-Z<]", weight=MEDIUM, label="impl"),
        code(r"\)\?;", weight=MEDIUM, label="?;"),
        code(r"\b(?:Result|Option|Vec|Arc)<", weight=MEDIUM, label="Result<"),
        code(r"\bSome\(", weight=MEDIUM, label="Some("),
        code(
            r"error\[E\d{4}\]|thread '[^'\n]*' panicked|\bborrow checker\b",
            label="Rust compiler error",
        ),
        code(r"\blet\s+\w+\s*=", weight=WEAK, label="let"),
    ),
)

BUILTIN_LANGUAGES: tuple[Language, ...] = (DOTNET, JAVA, JAVASCRIPT, PYTHON, RUST)

# Languages people ask about that have no SDK here. Naming one means "not one of ours": without
# stronger evidence the router picks no language rather than guess from weak hints. Labels are the
# language names, so a user who registers e.g. Go switches its cue off (see unsupported_cues).
UNSUPPORTED: tuple[Cue, ...] = (
    Cue(term("golang", "go.mod", "go get"), label="Go"),
    Cue(
        r"\bGo\b(?=\s*(?:[:?!,)]|$|\s+(?:SDK|sdk|code|apps?|application|modules?|services?|"
        r"program|version|client|equivalent|structs?|routines?|with|for)\b))",
        label="Go",
        case_sensitive=True,
    ),
    Cue(r"\b(?:in|with|using|from|for|to|of)\s+Go\b", label="Go", case_sensitive=True),
    Cue(
        r"\berr\s*!=\s*nil\b|\bfunc\s+(?:\(\w+\s+\*?\w+\)\s*)?\w+\([^)\n]*\)\s*[\w(*{]",
        label="Go",
        case_sensitive=True,
    ),
    Cue(r"(?<![\w#+])(?:C\+\+|cpp)(?![\w+])", label="C++"),
    *(
        Cue(term(word), label=word)
        for word in (
            "Ruby", "Rails", "PHP", "Laravel", "Perl", "Dart", "Flutter", "Elixir", "Haskell",
            "Objective-C", "Erlang", "Lua", "COBOL",
        )
    ),
    Cue(r"\bSwift\b", case_sensitive=True, label="Swift"),
)
# fmt: on


# -- the registry ----------------------------------------------------------------------------------

_lock = threading.RLock()
_registry: dict[str, Language] = {}

LANGUAGES: Mapping[str, Language] = MappingProxyType(_registry)
"""Read-only, ordered view of the registered languages by id (it follows later registrations)."""


def _clashes(lang: Language) -> list[str]:
    problems = []
    for other in _registry.values():
        if other.id == lang.id:
            continue
        shared = set(other.slash_commands) & set(lang.slash_commands)
        if shared:
            problems.append(f"slash command {sorted(shared)[0]} is {other.name}'s")
        shared = set(other.fence_tags) & set(lang.fence_tags)
        if shared:
            problems.append(f"code-fence tag {sorted(shared)[0]!r} is {other.name}'s")
        shared = set(other.editor_ids) & set(lang.editor_ids)
        if shared:
            problems.append(f"editor language id {sorted(shared)[0]!r} is {other.name}'s")
    return problems


def register_language(lang: Language, *, replace: bool = False) -> Language:
    """Add ``lang`` (or, with ``replace=True``, swap the entry with its id) and return it.

    Slash commands and fence tags must be unique across languages, so routing stays unambiguous.

        register_language(Language(id="go", name="Go", slash_commands=("/go",), ...))
    """
    if not isinstance(lang, Language):
        raise TypeError(f"register_language() takes a Language, not {type(lang).__name__}.")
    with _lock:
        if lang.id in _registry and not replace:
            raise ValueError(f"Language {lang.id!r} is already registered (pass replace=True).")
        problems = _clashes(lang)
        if problems:
            raise ValueError(f"Cannot register {lang.name}: " + "; ".join(problems) + ".")
        _registry[lang.id] = lang
    return lang


def unregister_language(language_id: str) -> Language:
    """Remove a registered language and return it (mainly for tests and plug-ins)."""
    with _lock:
        try:
            return _registry.pop(language_id)
        except KeyError:
            raise ValueError(_unknown(language_id)) from None


@contextmanager
def registered(lang: Language) -> Iterator[Language]:
    """Register ``lang`` for the duration of a ``with`` block, then restore what was there."""
    previous = _registry.get(lang.id)
    register_language(lang, replace=True)
    try:
        yield lang
    finally:
        with _lock:
            if previous is None:
                unregister_language(lang.id)
            else:
                register_language(previous, replace=True)


def language_ids() -> tuple[str, ...]:
    """The registered ids, in registration order."""
    return tuple(_registry)


def _unknown(language_id: str) -> str:
    return f"Unknown language {language_id!r}; known: {', '.join(_registry)}."


def get_language(language_id: str) -> Language:
    """The language registered as ``language_id``."""
    try:
        return _registry[language_id]
    except KeyError:
        raise ValueError(_unknown(language_id)) from None


def resolve_language(text: str) -> Language:
    """A language from its id, display name or a slash command with or without the slash.

    Lets callers accept "csharp", "C#", "/ts", "TypeScript" or ".NET" wherever an id is expected.
    """
    key = text.strip().lower()
    if not key:
        raise ValueError("A language name is empty.")
    for lang in _registry.values():
        spellings = {lang.id, lang.name.lower(), *lang.slash_commands}
        spellings |= {c[1:] for c in lang.slash_commands}
        spellings |= {part for part in lang.name.lower().split("/") if part}
        if key in spellings or "/" + key in spellings:
            return lang
    raise ValueError(_unknown(text.strip()))


def slash_command(text: str) -> tuple[Language, str] | None:
    """The language of a leading slash command in ``text`` and the command as typed, if any.

    Case-insensitive and on a word boundary, so "/javascript" is JavaScript (not "/java" plus
    "script") and "/netflix" is no command at all.
    """
    stripped = text.lstrip()
    if not stripped.startswith("/"):
        return None
    lowered = stripped.lower()
    best: tuple[Language, str] | None = None
    for lang in _registry.values():
        for command in lang.slash_commands:
            on_boundary = not re.match(r"[\w#+]", lowered[len(command) :])
            longer = best is None or len(command) > len(best[1])
            if lowered.startswith(command) and on_boundary and longer:
                best = (lang, stripped[: len(command)])
    return best


def fence_language(tag: str) -> Language | None:
    """The language whose code-fence tag is ``tag`` (case-insensitive), if any."""
    key = tag.strip().lower()
    for lang in _registry.values():
        if key in lang.fence_tags:
            return lang
    return None


def editor_language(language_id: str) -> Language | None:
    """The language whose source files an editor marks ``language_id`` (``csharp``), if any."""
    key = language_id.strip().lower()
    for lang in _registry.values():
        if key in lang.editor_ids:
            return lang
    return None


def manifest_languages(file_names: Iterable[str]) -> tuple[Language, ...]:
    """The languages whose manifests are among ``file_names`` (base names), in registry order."""
    found = [Path(name).name for name in file_names if isinstance(name, str)]
    return tuple(lang for lang in _registry.values() if any(map(lang.has_manifest, found)))


def find_manifests(directory: Path) -> tuple[str, ...]:
    """The manifest file names (of any registered language) directly inside ``directory``."""
    try:
        entries = sorted(entry.name for entry in directory.iterdir() if entry.is_file())
    except OSError:
        return ()
    langs = tuple(_registry.values())
    return tuple(name for name in entries if any(lang.has_manifest(name) for lang in langs))


def unsupported_cues() -> tuple[Cue, ...]:
    """The :data:`UNSUPPORTED` cues minus those for languages that have since been registered."""
    served = {lang.name.lower() for lang in _registry.values()} | set(_registry)
    return tuple(c for c in UNSUPPORTED if c.label.lower() not in served)


for _lang in BUILTIN_LANGUAGES:
    register_language(_lang)
del _lang
