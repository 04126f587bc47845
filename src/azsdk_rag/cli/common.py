"""What every command shares: one-line failures, settings from the options, the RAG."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import AzsdkRagError
from ..settings import Settings

if TYPE_CHECKING:
    from ..rag import AzureSdkRag

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("azsdk_rag")


def friendly(func: F) -> F:
    """Expected failures print one line and exit 1; anything else exits 2 without a traceback
    (with --debug the traceback is logged, through the secret mask)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AzsdkRagError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # `azsdk-rag ask ... | head`: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
            sys.exit(141)  # as a process stopped by SIGPIPE
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                # the traceback through logging, so the secret mask applies to it too
                log.critical("unexpected %s", type(exc).__name__, exc_info=exc)
                sys.exit(2)
            click.echo(f"error: unexpected {type(exc).__name__}; run with --debug for details.",
                       err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    from pydantic import ValidationError

    from ..redact import install, settings_secrets

    base = {k: v for k, v in ctx.obj.items() if v is not None}
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings(**base)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        click.echo(f"error: setting {where}: {first['msg']}", err=True)
        sys.exit(1)
    install(settings_secrets(settings))  # before anything can log a key (see redact.py)
    return settings


def language_id(value: str | None) -> str | None:
    """A --language value as a language id; an unknown one is a clear error."""
    if value is None:
        return None
    from ..errors import ConfigError
    from ..languages import resolve_language

    try:
        return resolve_language(value).id
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def open_rag(ctx: click.Context, **overrides: Any) -> AzureSdkRag:
    """The RAG on the settings of the global options and ``overrides``; close it (``with``)."""
    from ..rag import AzureSdkRag

    return AzureSdkRag(settings_from(ctx, **overrides))
