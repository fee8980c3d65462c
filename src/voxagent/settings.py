"""Every setting voxagent reads, in one place: the environment and an optional ``.env`` file.

Names match the seed service where one existed (``PORT``, ``TELNYX_*``, ``DEEPGRAM_API_KEY``…),
so an existing deployment's environment works unchanged. ``Settings.check()`` refuses
contradictory combinations at start-up with one line that names the setting.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OFFLINE_STT = "pocketsphinx"
OFFLINE_TTS = "piper"
OFFLINE_AGENT = "scripted"

STT_LANGUAGES = {"pocketsphinx": {"en"}, "deepgram": {"en", "es"}}


class SettingsError(ValueError):
    """A setting is missing, malformed or contradicts another; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Server
    host: str = "0.0.0.0"
    port: int = Field(3000, ge=1, le=65535)
    log_level: str = "info"
    shutdown_grace_seconds: float = Field(30.0, ge=0)

    # Telnyx
    telnyx_api_key: str = ""
    telnyx_connection_id: str = ""
    telnyx_phone_number: str = ""
    telnyx_public_key: str = ""
    telnyx_base_url: str = "https://api.telnyx.com/v2"
    webhook_base_url: str = ""
    stream_url: str = ""
    """Override for the media-stream URL given to Telnyx (default WEBHOOK_BASE_URL/stream/media)."""
    use_media_streams: bool = True
    telnyx_verify_signatures: bool = True
    """Only for local development: accept unsigned webhooks (logged loudly at start-up)."""
    stream_codec: Literal["PCMU", "PCMA"] = "PCMU"
    telnyx_speak_voice: str = "female"
    telnyx_transcription_engine: str = "B"
    telnyx_transcription_lang: str = "en"

    # Providers (comma-separated lists become fallback chains in later releases)
    stt_provider: str = OFFLINE_STT
    llm_provider: str = OFFLINE_AGENT
    tts_provider: str = OFFLINE_TTS
    deepgram_api_key: str = ""
    claude_api_key: str = ""
    elevenlabs_api_key: str = ""

    # Storage
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""
    aws_region: str = "us-east-1"
    aws_bucket_name: str = ""
    s3_bucket_folder: str = ""
    database_url: str = "sqlite+aiosqlite:///data/voxagent.db"

    # Conversation
    persona: str = "maria"
    language: Literal["en", "es"] | None = None
    """Conversation language; unset means the one of TELNYX_TRANSCRIPTION_LANG."""
    vad_engine: Literal["silero", "silero-lite", "pysilero"] = "silero"
    vad_threshold: float = Field(0.5, gt=0, lt=1)
    end_of_turn_silence_ms: int = Field(600, ge=100, le=5000)
    min_speech_ms: int = Field(120, ge=20, le=2000)
    barge_in_min_ms: int = Field(200, ge=40, le=3000)
    max_history_messages: int = Field(50, ge=2, le=1000)
    max_call_seconds: int = Field(1800, ge=10)
    stt_workers: int = Field(2, ge=1, le=64)
    tts_workers: int = Field(2, ge=1, le=64)

    @field_validator("stt_provider", "llm_provider", "tts_provider", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def effective_language(self) -> str:
        if self.language:
            return self.language
        return (self.telnyx_transcription_lang or "en")[:2].lower()

    @cached_property
    def telnyx_configured(self) -> bool:
        return bool(self.telnyx_api_key)

    def check(self) -> None:
        """Refuse settings that cannot work together; the message names the culprit."""
        known_stt = set(STT_LANGUAGES)
        for name in self.stt_provider.split(","):
            if name not in known_stt:
                raise SettingsError(
                    f"STT_PROVIDER={name!r} is not a known recognizer "
                    f"(choose from {', '.join(sorted(known_stt))})"
                )
        first_stt = self.stt_provider.split(",")[0]
        language = self.effective_language
        source = "LANGUAGE" if self.language else "TELNYX_TRANSCRIPTION_LANG"
        if language not in {"en", "es"}:
            raise SettingsError(f"{source}={language!r}: voxagent speaks en or es")
        # In webhook mode Telnyx transcribes, so only stream mode needs our own recognizer.
        if self.use_media_streams and language not in STT_LANGUAGES[first_stt]:
            raise SettingsError(
                f"{source}={language} needs a recognizer for that language, but "
                f"STT_PROVIDER={first_stt} only understands "
                f"{', '.join(sorted(STT_LANGUAGES[first_stt]))} (set STT_PROVIDER=deepgram)"
            )
        if self.telnyx_api_key:
            for name in ("telnyx_connection_id", "telnyx_phone_number", "webhook_base_url"):
                if not getattr(self, name):
                    raise SettingsError(f"TELNYX_API_KEY is set, so {name.upper()} is needed too")
            if self.telnyx_verify_signatures and not self.telnyx_public_key:
                raise SettingsError(
                    "TELNYX_PUBLIC_KEY is needed to verify webhook signatures "
                    "(or TELNYX_VERIFY_SIGNATURES=false, for local development only)"
                )
        if self.telnyx_public_key:
            from voxagent.telephony.telnyx.signatures import SignatureError, load_public_key

            try:
                load_public_key(self.telnyx_public_key)
            except SignatureError as exc:
                raise SettingsError(str(exc)) from None
        if first_stt == "deepgram" and not self.deepgram_api_key:
            raise SettingsError("STT_PROVIDER=deepgram needs DEEPGRAM_API_KEY")
        for name in self.tts_provider.split(","):
            if name not in {OFFLINE_TTS, "elevenlabs", "cartesia"}:
                raise SettingsError(f"TTS_PROVIDER={name!r} is not a known voice")
        if self.tts_provider.split(",")[0] == "elevenlabs" and not self.elevenlabs_api_key:
            raise SettingsError("TTS_PROVIDER=elevenlabs needs ELEVENLABS_API_KEY")
        if self.llm_provider not in {OFFLINE_AGENT, "anthropic", "claude", "openai"}:
            raise SettingsError(f"LLM_PROVIDER={self.llm_provider!r} is not a known agent")
        if self.llm_provider in {"anthropic", "claude"} and not self.claude_api_key:
            raise SettingsError("LLM_PROVIDER=anthropic needs CLAUDE_API_KEY")
        if self.barge_in_min_ms > self.end_of_turn_silence_ms * 4:
            raise SettingsError(
                "BARGE_IN_MIN_MS is implausibly long next to END_OF_TURN_SILENCE_MS"
            )
        not_yet = {"deepgram"} & set(self.stt_provider.split(","))
        not_yet |= {"elevenlabs", "cartesia"} & set(self.tts_provider.split(","))
        not_yet |= {"anthropic", "claude", "openai"} & {self.llm_provider}
        if not_yet:
            raise SettingsError(
                f"provider {sorted(not_yet)[0]!r} is configured but not available in this build; "
                "use the offline default (STT_PROVIDER=pocketsphinx, LLM_PROVIDER=scripted, "
                "TTS_PROVIDER=piper)"
            )


def load_settings(**overrides: object) -> Settings:
    """Read and check the settings; raises SettingsError naming the bad setting."""
    from pydantic import ValidationError

    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper() or "settings"
        raise SettingsError(f"{name}: {first['msg']}") from None
    settings.check()
    return settings
