"""The ``voxagent`` command: serve, simulate a phone call, or do both (demo)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from voxagent.settings import SettingsError, load_settings
from voxagent.telemetry.logging import configure_logging

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="VOXAGENT_API_KEY",
        help="One of the server's API_KEYS (or set VOXAGENT_API_KEY)",
        show_default=False,
    ),
]


def _auth(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _refused(what: str, response: object) -> None:
    status = getattr(response, "status_code", 0)
    text = getattr(response, "text", "")
    hint = " (pass --api-key or set VOXAGENT_API_KEY)" if status == 401 else ""
    typer.echo(f"voxagent: {what} refused ({status}): {text}{hint}", err=True)
    raise typer.Exit(1)


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        asyncio.run(coro)  # type: ignore[arg-type]


def _settings_or_exit(**overrides: object) -> object:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(f"voxagent: configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (PORT, default 3000)")] = None,
) -> None:
    """Run the server until SIGTERM/SIGINT (active calls get a grace period)."""
    from voxagent.server import build_server
    from voxagent.settings import Settings

    settings = _settings_or_exit()
    assert isinstance(settings, Settings)
    configure_logging(settings.log_level, settings.secrets())
    try:
        server, _ = build_server(settings, host or settings.host, port or settings.port)
    except SettingsError as exc:
        typer.echo(f"voxagent: configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    _run(server.serve())


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="The server's media-stream WebSocket")] = (
        "ws://127.0.0.1:3000/stream/media"
    ),
    say: Annotated[
        list[str] | None, typer.Option("--say", help="A caller utterance (repeat for several)")
    ] = None,
    barge_in: Annotated[bool, typer.Option(help="Talk over the agent's first answer")] = False,
    codec: Annotated[str, typer.Option(help="PCMU or PCMA")] = "PCMU",
    wav: Annotated[Path | None, typer.Option(help="Write a stereo WAV of the call")] = Path(
        "simulated-call.wav"
    ),
    api_key: ApiKeyOption = None,
    browser: Annotated[
        bool, typer.Option(help="A browser session (Socket.IO /sandra) instead of a phone call")
    ] = False,
    server: Annotated[str, typer.Option(help="The server, for --browser")] = (
        "http://127.0.0.1:3000"
    ),
    persona: Annotated[str | None, typer.Option(help="For --browser: sandra or maria")] = None,
    language: Annotated[str | None, typer.Option(help="For --browser: en or es")] = None,
) -> None:
    """Place one simulated phone call (Telnyx media-stream protocol) and print the dialogue.

    A server with Telnyx configured only takes streams with Telnyx's per-call token, or with
    one of its API keys: pass --api-key (or set VOXAGENT_API_KEY) to simulate calls there.
    With --browser the caller is a page instead: it gets a token, speaks the /sandra Socket.IO
    protocol, and reports what it played."""
    from voxagent.simulator.caller import DEFAULT_SCRIPT, simulate_call

    configure_logging("warning")
    if browser:
        _run(_simulate_browser(server, say, barge_in, api_key, persona, language))
        return

    async def main() -> None:
        result = await simulate_call(
            url,
            list(say) if say else list(DEFAULT_SCRIPT),
            encoding=codec.upper(),
            barge_in=barge_in,
            wav_path=str(wav) if wav else None,
            on_event=lambda line: typer.echo(line),
            api_key=api_key,
        )
        typer.echo("")
        typer.echo(result.format_dialogue())
        if wav:
            typer.echo(f"recording: {wav}")

    try:
        _run(main())
    except OSError as exc:
        typer.echo(f"voxagent: cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from None


async def _simulate_browser(
    server: str,
    say: list[str] | None,
    barge_in: bool,
    api_key: str | None,
    persona: str | None,
    language: str | None,
) -> None:
    from voxagent.providers.tts.piper import PiperVoiceSynthesizer
    from voxagent.simulator.browser import simulate_browser_session
    from voxagent.simulator.caller import DEFAULT_SCRIPT

    voice = await asyncio.to_thread(PiperVoiceSynthesizer)
    lines = list(say) if say else list(DEFAULT_SCRIPT)
    try:
        result = await simulate_browser_session(
            server,
            lines,
            tts=voice,
            persona=persona,
            language=language,
            api_key=api_key,
            barge_in_turn=0 if barge_in else None,
            on_event=lambda line: typer.echo(line),
        )
    except Exception as exc:
        typer.echo(f"voxagent: browser session against {server} failed: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        await voice.close()
    typer.echo("")
    typer.echo(result.format_dialogue())


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    barge_in: Annotated[bool, typer.Option(help="The caller also interrupts the agent")] = False,
) -> None:
    """Start the server, place one simulated call against it, print it, keep serving."""
    from voxagent.server import build_server
    from voxagent.settings import Settings
    from voxagent.simulator.caller import DEFAULT_SCRIPT, simulate_call

    settings = _settings_or_exit()
    assert isinstance(settings, Settings)
    configure_logging(settings.log_level, settings.secrets())
    bind_port = port or settings.port
    server, fastapi_app = build_server(settings, host or settings.host, bind_port)

    async def main() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                await serving
                return
            await asyncio.sleep(0.05)
        typer.echo("\n=== placing a simulated phone call (offline: PocketSphinx, Piper, María) ===")
        services = fastapi_app.state.services
        result = await simulate_call(
            f"ws://127.0.0.1:{bind_port}/stream/media",
            list(DEFAULT_SCRIPT),
            barge_in=barge_in,
            tts=services.factory.piper,
            wav_path="simulated-call.wav",
            on_event=lambda line: typer.echo(f"  {line}"),
        )
        typer.echo("")
        typer.echo(result.format_dialogue())
        record = await services.records.store.get(result.call_control_id)
        if record is not None:
            _print_turn_latencies(record.turns)
        typer.echo(
            f"\nThe server keeps serving on port {bind_port}: "
            f"try `voxagent simulate --url ws://127.0.0.1:{bind_port}/stream/media --barge-in` "
            f"in another terminal, or talk to it in the browser: "
            f"http://127.0.0.1:{bind_port}/console. Ctrl-C to stop."
        )
        await serving

    _run(main())


@app.command()
def call(
    phone: Annotated[str, typer.Argument(help="E.164 number, e.g. +15551234567")],
    name: Annotated[str, typer.Option(help="Who is called")] = "",
    persona: Annotated[str | None, typer.Option(help="Persona (default: the server's)")] = None,
    server: Annotated[str, typer.Option(help="The voxagent server")] = "http://127.0.0.1:3000",
    wait: Annotated[bool, typer.Option(help="Wait for the call to end, print it")] = False,
    api_key: ApiKeyOption = None,
) -> None:
    """Place one outbound call through a running server."""
    import time

    import httpx

    body: dict[str, object] = {"name": name, "phone": phone}
    if persona:
        body["persona"] = persona
    try:
        response = httpx.post(
            f"{server}/api/call/initiate", json=body, headers=_auth(api_key), timeout=30
        )
    except httpx.HTTPError as exc:
        typer.echo(f"voxagent: cannot reach {server}: {exc}", err=True)
        raise typer.Exit(1) from None
    if response.status_code != 200:
        _refused("call", response)
    placed = response.json()
    typer.echo(
        f"calling {phone}: call {placed['call_control_id']} (session {placed['session_id']})"
    )
    while wait:
        time.sleep(1)
        details = httpx.get(
            f"{server}/api/calls/{placed['call_control_id']}", headers=_auth(api_key), timeout=10
        ).json()
        session = details.get("session", {})
        if session.get("status") in ("ended", "failed"):
            for message in details.get("transcript", []):
                typer.echo(f"  {message['role']}: {message['text']}")
            typer.echo(f"outcome: {session.get('outcome')} ({session.get('hangup_cause')})")
            return


@app.command()
def batch(
    csv_path: Annotated[Path, typer.Argument(help="CSV with columns name, phone[, variables…]")],
    concurrency: Annotated[int, typer.Option(help="Calls in progress at once")] = 5,
    pace: Annotated[float, typer.Option(help="New calls per second")] = 1.0,
    server: Annotated[str, typer.Option(help="The voxagent server")] = "http://127.0.0.1:3000",
    api_key: ApiKeyOption = None,
) -> None:
    """Place a list of calls with a progress bar, then print a summary table."""
    import time

    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from voxagent.batch_csv import CsvError, read_call_list

    try:
        calls = read_call_list(csv_path)
    except CsvError as exc:
        typer.echo(f"voxagent: {exc}", err=True)
        raise typer.Exit(2) from None
    body = {"calls": calls, "concurrency": concurrency, "pace": pace}
    try:
        response = httpx.post(
            f"{server}/api/call/batch", json=body, headers=_auth(api_key), timeout=60
        )
    except httpx.HTTPError as exc:
        typer.echo(f"voxagent: cannot reach {server}: {exc}", err=True)
        raise typer.Exit(1) from None
    if response.status_code != 202:
        _refused("batch", response)
    accepted = response.json()
    console = Console()
    for bad in accepted["rejected"]:
        console.print(f"[yellow]skipped row {bad['index'] + 2}: {bad['error']}[/]")
    summary: dict[str, Any] = {}
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("calls", total=accepted["accepted"])
        while True:
            summary = httpx.get(
                f"{server}/api/call/batch/{accepted['batch_id']}",
                headers=_auth(api_key),
                timeout=10,
            ).json()
            counts = summary["counts"]
            finished = counts.get("ended", 0) + counts.get("failed", 0)
            live = counts.get("in_progress", 0) + counts.get("dialing", 0)
            progress.update(task, completed=finished, description=f"calls ({live} live)")
            if summary["done"]:
                break
            time.sleep(0.5)
    table = Table(title=f"batch {accepted['batch_id']}")
    for column in ("#", "name", "phone", "status", "outcome", "call id / error"):
        table.add_column(column)
    for entry in summary["entries"]:
        table.add_row(
            str(entry["index"] + 1),
            entry["name"],
            entry["phone"],
            entry["status"],
            entry["outcome"] or "",
            entry["error"] or entry["call_control_id"] or "",
        )
    console.print(table)


@app.command("fake-telnyx")
def fake_telnyx(
    webhook_url: Annotated[str, typer.Option(help="Where to send webhooks")] = (
        "http://127.0.0.1:3000/webhook/telnyx"
    ),
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 3100,
    api_key: Annotated[str, typer.Option(help="The bearer key it accepts")] = "KEY_TEST",
    say: Annotated[
        list[str] | None, typer.Option("--say", help="What the called party says (repeat)")
    ] = None,
) -> None:
    """Run a local fake of Telnyx Call Control (point TELNYX_BASE_URL at it)."""
    from voxagent.simulator.caller import DEFAULT_SCRIPT
    from voxagent.simulator.fake_telnyx import run_fake_telnyx

    configure_logging("info")
    run_fake_telnyx(host, port, webhook_url, api_key, list(say) if say else list(DEFAULT_SCRIPT))


def _print_turn_latencies(turns: list[dict[str, object]]) -> None:
    """The server's own view of each turn: where the time went, in ms from the caller's end
    of speech (the greeting: from the call's start)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Per-turn latency at the server (ms after the caller stopped speaking)")
    columns = [
        ("turn over", "end_of_turn_ms"),
        ("transcript", "stt_final_ms"),
        ("agent text", "agent_first_text_ms"),
        ("TTS audio", "tts_first_audio_ms"),
        ("audio sent", "first_audio_sent_ms"),
    ]
    table.add_column("turn", justify="right")
    table.add_column("caller said")
    for title, _ in columns:
        table.add_column(title, justify="right")
    table.add_column("interrupted")
    for turn in turns:
        cells = [str(turn.get("turn", "")), str(turn.get("user_text", "") or "(greeting)")]
        for _, key in columns:
            value = turn.get(key)
            cells.append(f"{value:.0f}" if isinstance(value, int | float) else "-")
        cells.append("yes" if turn.get("interrupted") else "")
        table.add_row(*cells)
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    console.print(table)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":
    main()
