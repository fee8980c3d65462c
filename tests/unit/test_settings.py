import pytest

from voxagent.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("LANGUAGE", "TELNYX_TRANSCRIPTION_LANG", "STT_PROVIDER", "PORT", "TTS_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_offline_stack() -> None:
    s = load_settings()
    assert (s.stt_provider, s.llm_provider, s.tts_provider) == ("pocketsphinx", "scripted", "piper")
    assert s.port == 3000
    assert s.database_url.startswith("sqlite")
    assert s.use_media_streams is True


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "4100")
    monkeypatch.setenv("USE_MEDIA_STREAMS", "false")
    s = load_settings()
    assert s.port == 4100 and s.use_media_streams is False


def test_spanish_with_only_the_english_offline_recognizer_names_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELNYX_TRANSCRIPTION_LANG", "es")
    with pytest.raises(SettingsError, match=r"TELNYX_TRANSCRIPTION_LANG=es .*STT_PROVIDER"):
        load_settings()
    with pytest.raises(SettingsError, match=r"^LANGUAGE=es"):
        load_settings(language="es")


def test_malformed_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    with pytest.raises(SettingsError, match=r"^PORT"):
        load_settings()


def test_unknown_provider_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_PROVIDER", "espeak")
    with pytest.raises(SettingsError, match="TTS_PROVIDER='espeak'"):
        load_settings()


def test_missing_key_is_named() -> None:
    with pytest.raises(SettingsError, match="DEEPGRAM_API_KEY"):
        load_settings(stt_provider="deepgram")


def test_provider_chains_are_parsed_and_aliases_resolved() -> None:
    s = load_settings(
        stt_provider="deepgram, pocketsphinx",
        llm_provider="claude,scripted",
        tts_provider="elevenlabs,piper",
        deepgram_api_key="dg",
        claude_api_key="sk-ant",
        elevenlabs_api_key="el",
    )
    assert s.stt_chain == ["deepgram", "pocketsphinx"]
    assert s.llm_chain == ["anthropic", "scripted"]
    assert s.tts_chain == ["elevenlabs", "piper"]


def test_a_fallback_without_its_key_is_refused_at_start_up() -> None:
    with pytest.raises(
        SettingsError, match="TTS_PROVIDER uses cartesia, which needs CARTESIA_API_KEY"
    ):
        load_settings(tts_provider="piper,cartesia")


def test_anthropic_api_key_is_accepted_for_claude(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    assert load_settings(llm_provider="anthropic").claude_api_key == "sk-ant-x"


def test_openai_needs_a_key_only_at_openai_itself() -> None:
    with pytest.raises(SettingsError, match="OPENAI_API_KEY"):
        load_settings(llm_provider="openai")
    local = load_settings(llm_provider="openai", openai_base_url="http://127.0.0.1:11434/v1")
    assert local.llm_chain == ["openai"]


def test_a_provider_named_twice_is_refused() -> None:
    with pytest.raises(SettingsError, match="twice"):
        load_settings(tts_provider="piper,piper")


def test_an_s3_bucket_needs_credentials() -> None:
    with pytest.raises(SettingsError, match="AWS_ACCESS_KEY_ID"):
        load_settings(aws_bucket_name="calls")


def test_env_example_documents_every_setting() -> None:
    from pathlib import Path

    from voxagent.settings import Settings

    example = (Path(__file__).parents[2] / ".env.example").read_text()
    named = {
        line.lstrip("# ").split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and line.lstrip("# ")[:1].isupper()
    }
    missing = {name.upper() for name in Settings.model_fields} - named
    assert not missing, f".env.example lacks {sorted(missing)}"


TELNYX = {
    "telnyx_api_key": "KEY_LIVE_abc",
    "telnyx_connection_id": "1",
    "telnyx_phone_number": "+15550001000",
    "webhook_base_url": "https://voice.example.com",
    "telnyx_verify_signatures": False,
}


def test_telnyx_without_api_keys_fails_closed_and_names_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"API_KEYS is needed.*ALLOW_UNAUTHENTICATED_API"):
        load_settings(**TELNYX)
    assert load_settings(**TELNYX, api_keys="k-1").api_keys == "k-1"
    assert load_settings(**TELNYX, allow_unauthenticated_api=True).api_keys == ""
    assert load_settings().api_keys == "", "no Telnyx: local development stays open"


def test_every_secret_is_known_for_scrubbing() -> None:
    settings = load_settings(
        **TELNYX, api_keys="one-key, two-key", claude_api_key="sk-ant-1", llm_provider="anthropic"
    )
    assert {"one-key", "two-key", "KEY_LIVE_abc", "sk-ant-1"} <= set(settings.secrets())
