import pytest
from typer.testing import CliRunner

from voxagent.cli import app


@pytest.fixture(autouse=True)
def keep_logging() -> object:
    """The CLI installs its log handler on the runner's captured stderr, which closes after
    the run: put the test process's handlers back, or later tests log into a closed file."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_bad_settings_stop_start_up_with_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("TELNYX_TRANSCRIPTION_LANG", "es")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "TELNYX_TRANSCRIPTION_LANG=es" in lines[0] and "STT_PROVIDER" in lines[0]


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "simulate", "demo"):
        assert command in result.output


def test_simulate_says_clearly_when_no_server_listens() -> None:
    result = CliRunner().invoke(app, ["simulate", "--url", "ws://127.0.0.1:9/stream/media"])
    assert result.exit_code == 1
    assert "cannot reach ws://127.0.0.1:9/stream/media" in result.output


def test_the_server_refuses_to_start_open_with_telnyx_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    for name, value in {
        "TELNYX_API_KEY": "KEY_LIVE_x",
        "TELNYX_CONNECTION_ID": "1",
        "TELNYX_PHONE_NUMBER": "+15550001000",
        "WEBHOOK_BASE_URL": "https://voice.example.com",
        "TELNYX_VERIFY_SIGNATURES": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("API_KEYS", raising=False)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "API_KEYS" in result.output and "KEY_LIVE_x" not in result.output
