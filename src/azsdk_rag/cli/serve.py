"""Serving: ``serve`` (both socket wires, or stdio), ``token``, ``mcp``."""

from __future__ import annotations

import sys

import click

from .common import friendly, open_rag, settings_from


@click.command()
@click.option("--stdio", is_flag=True, help="JSON-RPC on stdin/stdout (VS Code).")
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Legacy raw-text port (default 65432).")
@click.option("--rpc-port", type=int, help="JSON-RPC port (default 65433).")
@click.pass_context
@friendly
def serve(ctx: click.Context, stdio: bool, host: str | None, port: int | None,
          rpc_port: int | None) -> None:
    """Serve the old extension's raw-text protocol and JSON-RPC (TCP), or JSON-RPC on stdio."""
    import asyncio

    from ..server.serve import serve as run_server

    settings = settings_from(ctx, host=host, port=port, rpc_port=rpc_port)
    with open_rag(ctx, host=host, port=port, rpc_port=rpc_port) as rag:
        code = asyncio.run(run_server(rag, settings, stdio=stdio))
    if code:
        sys.exit(code)


@click.command()
def token() -> None:
    """Print a fresh random token for AZSDK_RAG_TOKEN (256 bits, URL-safe)."""
    import secrets

    click.echo(secrets.token_urlsafe(32))


@click.command()
@click.option("--http", "http", is_flag=True, help="Streamable HTTP at /mcp instead of stdio.")
@click.option("--host", help="Address to bind with --http (default 127.0.0.1).")
@click.option("--port", type=int, help="Port with --http (default 65434).")
@click.pass_context
@friendly
def mcp(ctx: click.Context, http: bool, host: str | None, port: int | None) -> None:
    """Serve search, READMEs and answers as MCP tools for coding agents (stdio, or --http)."""
    from ..server.mcp_serve import run

    run(settings_from(ctx, host=host), http=http, host=host, port=port)
