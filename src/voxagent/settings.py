"""Every setting voxagent reads, in one place: the environment and an optional ``.env`` file.

Names match the seed service where one existed (``PORT``, ``TELNYX_*``, ``DEEPGRAM_API_KEY``…),
so an existing deployment's environment works unchanged. ``Settings.check()`` refuses
contradictory combinations at start-up with one line that names the setting.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OFFLINE_STT = "pocketsphinx"
OFFLINE_TTS = "piper"
OFFLINE_AGENT = "scripted"
DEFAULT_STUN_SERVERS = "stun:stun.l.google.com:19302,stun:stun.cloudflare.com:3478"
"""Two public STUN servers (browsers warn at five or more ICE servers)."""

STT_LANGUAGES = {"pocketsphinx": {"en"}, "deepgram": {"en", "es"}}
TTS_VOICES = (OFFLINE_TTS, "elevenlabs", "cartesia")
LLM_AGENTS = (OFFLINE_AGENT, "anthropic", "openai")
LLM_ALIASES = {"claude": "anthropic"}
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


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
    shutdown_grace_seconds: float = Field(
        30.0, ge=0, validation_alias=AliasChoices("shutdown_grace_seconds", "drain_timeout_seconds")
    )
    """How long a drain (SIGTERM) may take: calls hand over or finish meanwhile
    (``DRAIN_TIMEOUT_SECONDS`` is the same setting)."""
    metrics_port: int = Field(0, ge=0, le=65535)
    """Serve ``/metrics`` on this port only (no key), off the public one (0: on the public
    port, behind an API key)."""
    malloc_arenas: int = Field(2, ge=0, le=1024)
    """glibc malloc arenas for the whole process (0: glibc's default, eight per core); few
    arenas keep the RSS flat as WebRTC peers and their threads come and go."""
    heap_trim_interval_s: float = Field(60.0, ge=0, le=86400)
    """How often free C-heap pages go back to the system (0: never)."""

    # Shared state (several instances)
    redis_url: str = ""
    """Sessions live in this Redis, shared by every instance (empty: this process's memory)."""
    redis_key_prefix: str = Field("voxagent:", min_length=1, max_length=64)
    """Every key this server writes starts with it (instances of one deployment share it)."""

    # Security
    api_keys: str = ""
    """Keys that open the API (comma-separated); sent as ``Authorization: Bearer <key>`` or
    ``X-API-Key``. Required when Telnyx is configured."""
    allow_unauthenticated_api: bool = False
    """Run with Telnyx configured and no API_KEYS anyway (logged loudly): anyone who can
    reach the server can then place calls and read transcripts."""
    allowed_dial_prefixes: str = ""
    """Outbound calls only to numbers starting with one of these (e.g. ``+1,+34``)."""
    denied_dial_prefixes: str = ""
    """Never dial numbers starting with these (e.g. premium-rate ranges ``+1900,+44909``)."""
    max_concurrent_calls: int = Field(50, ge=1, le=100_000)
    """Outbound calls in progress at once, single calls and batches together."""
    calls_per_minute: int = Field(60, ge=0, le=100_000)
    """Calls one API key may place per minute (0: no limit); over it the answer is 429."""
    max_batch_size: int = Field(1000, ge=1, le=1_000_000)
    max_body_bytes: int = Field(1 << 20, ge=1024, le=1 << 30)
    """The largest REST request body accepted (413 above it)."""
    media_url_secret: str = ""
    """Signs media URLs (HMAC); empty means a random secret per process, so URLs stop
    working after a restart. Set the same value on every instance."""
    media_url_ttl_seconds: int = Field(3600, ge=10, le=604800)
    redact_transcripts: bool = False
    """Also mask phone numbers, e-mails and card numbers in stored transcripts."""
    cors_origins: str = ""
    """Browser origins allowed to call the API (comma-separated); empty: CORS off."""

    # Browser sessions
    jwt_secret: str = ""
    """Signs browser session tokens (HS256); empty means a random secret per process."""
    jwt_ttl_seconds: int = Field(900, ge=30, le=86400)
    tokens_per_minute_per_ip: int = Field(30, ge=0, le=100_000)
    browser_persona: str = "sandra"
    """The persona a browser session gets unless it asks for another."""
    browser_echo_margin_db: float = Field(6.0, ge=0, le=40)
    """While the agent speaks over a Socket.IO session (no echo cancellation on that path),
    the user must be this much louder than the agent's own audio to be heard."""
    session_ttl_seconds: int = Field(3600, ge=60, le=7 * 86400)
    """How long a dropped browser session can be resumed, and how long shared keys (Redis)
    live after their last change."""

    # WebRTC (browser audio; Socket.IO stays the event channel and the fallback)
    stun_servers: str = DEFAULT_STUN_SERVERS
    """STUN URLs for the browser (comma-separated, at most four used); the server's own ICE
    agent (aiortc) uses only the first: put the nearest first."""
    turn_url: str = Field("", validation_alias=AliasChoices("turn_url", "react_app_turn_server"))
    """TURN URL(s); aiortc uses only the first. Needs TURN_USERNAME/TURN_PASSWORD or TURN_SECRET."""
    turn_username: str = Field(
        "", validation_alias=AliasChoices("turn_username", "react_app_turn_username")
    )
    turn_password: str = Field(
        "", validation_alias=AliasChoices("turn_password", "react_app_turn_password")
    )
    turn_secret: str = ""
    """coturn's use-auth-secret: time-limited TURN credentials are minted per session."""
    turn_ttl_seconds: int = Field(3600, ge=60, le=86400)
    webrtc_max_peers: int = Field(100, ge=0, le=10_000)
    """Peer connections this process holds at once (0: WebRTC off)."""
    webrtc_connect_timeout_s: float = Field(15.0, gt=0, le=120)
    """A peer that has not connected by then is closed."""
    webrtc_disconnect_grace_s: float = Field(5.0, ge=0, le=60)
    """How long ICE may stay ``disconnected`` before the peer is closed."""
    webrtc_host_addresses: str = ""
    """Only these local addresses become host candidates (comma-separated; empty: every
    interface but loopback, aioice's default). ``127.0.0.1`` for loopback-only tests."""

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
    webhook_mode_voice: Literal["telnyx", "provider"] = "telnyx"
    """Webhook mode: Telnyx's ``speak`` voice, or our TTS_PROVIDER voice via ``playback_start``."""
    telnyx_transcription_engine: str = "B"
    telnyx_transcription_lang: str = "en"

    # Providers. Each is a comma-separated fallback chain: when the first fails mid-call, the
    # next one takes over for the rest of that call (e.g. TTS_PROVIDER=elevenlabs,piper).
    stt_provider: str = OFFLINE_STT
    llm_provider: str = OFFLINE_AGENT
    tts_provider: str = OFFLINE_TTS
    deepgram_api_key: str = ""
    deepgram_base_url: str = "wss://api.deepgram.com"
    deepgram_model: str = "nova-2"
    deepgram_endpointing_ms: int = Field(300, ge=10, le=5000)
    claude_api_key: str = Field(
        "", validation_alias=AliasChoices("claude_api_key", "anthropic_api_key")
    )
    anthropic_base_url: str = "https://api.anthropic.com"
    claude_model: str = "claude-3-5-haiku-latest"
    openai_api_key: str = ""
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(10.0, gt=0, le=120)
    elevenlabs_api_key: str = ""
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    elevenlabs_voice_id: str = "21m00Tcm4TlvDq8ikWAM"
    elevenlabs_model: str = "eleven_flash_v2_5"
    cartesia_api_key: str = ""
    cartesia_base_url: str = "https://api.cartesia.ai"
    cartesia_voice_id: str = "a0e99841-438c-4a64-b679-ae501e7d6091"
    cartesia_model: str = "sonic-2"
    speculative_responses: bool = False
    """Start the agent on a stable interim transcript; keep it only if the final matches."""

    # Storage
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""
    aws_region: str = "us-east-1"
    aws_bucket_name: str = ""
    aws_endpoint_url: str = ""
    """S3-compatible server (MinIO, moto…); empty means AWS itself."""
    s3_bucket_folder: str = ""
    media_dir: str = "data/media"
    record_calls: bool = False
    """Keep a stereo WAV of every media-stream call (caller left, agent right) in storage."""
    s3_url_expiry_seconds: int = Field(3600, ge=1, le=604800)
    """How long a presigned audio URL (e.g. for Telnyx playback_start) stays valid."""
    """Where audio is kept when AWS_BUCKET_NAME is unset; served at /media/…."""
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
    no_input_timeout_s: float = Field(8.0, ge=0, le=600)
    """Silence after the agent finished before "are you still there?" (0 turns it off)."""
    stt_workers: int = Field(2, ge=1, le=64)
    tts_workers: int = Field(2, ge=1, le=64)

    @field_validator("stt_provider", "llm_provider", "tts_provider", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def stt_chain(self) -> list[str]:
        return _chain(self.stt_provider)

    @property
    def llm_chain(self) -> list[str]:
        return [LLM_ALIASES.get(name, name) for name in _chain(self.llm_provider)]

    @property
    def tts_chain(self) -> list[str]:
        return _chain(self.tts_provider)

    @property
    def effective_language(self) -> str:
        if self.language:
            return self.language
        return (self.telnyx_transcription_lang or "en")[:2].lower()

    @cached_property
    def telnyx_configured(self) -> bool:
        return bool(self.telnyx_api_key)

    def secrets(self) -> list[str]:
        """Every secret value set, so logs can be scrubbed of them."""
        names = (
            "api_keys",
            "telnyx_api_key",
            "deepgram_api_key",
            "claude_api_key",
            "openai_api_key",
            "elevenlabs_api_key",
            "cartesia_api_key",
            "aws_secret_access_key",
            "media_url_secret",
            "jwt_secret",
            "turn_password",
            "turn_secret",
        )
        values: list[str] = []
        for name in names:
            value = str(getattr(self, name) or "")
            values += [v.strip() for v in value.split(",")] if name == "api_keys" else [value]
        return [v for v in values if v]

    def _check_webrtc(self) -> None:
        for name, schemes in (
            ("stun_servers", ("stun:", "stuns:")),
            ("turn_url", ("turn:", "turns:")),
        ):
            for url in (u.strip() for u in str(getattr(self, name)).split(",")):
                if url and not url.startswith(schemes):
                    raise SettingsError(f"{name.upper()}: {url!r} is not a {schemes[0]} URL")
        if (
            self.turn_url
            and not self.turn_secret
            and not (self.turn_username and self.turn_password)
        ):
            raise SettingsError(
                "TURN_URL is set but neither TURN_SECRET nor TURN_USERNAME and TURN_PASSWORD are"
            )
        for address in (a.strip() for a in self.webrtc_host_addresses.split(",")):
            if (
                address
                and not all(part.isdigit() for part in address.split("."))
                and ":" not in address
            ):
                raise SettingsError(f"WEBRTC_HOST_ADDRESSES: {address!r} is not an IP address")

    def check(self) -> None:
        """Refuse settings that cannot work together; the message names the culprit."""
        self._check_chains()
        self._check_webrtc()
        language = self.effective_language
        source = "LANGUAGE" if self.language else "TELNYX_TRANSCRIPTION_LANG"
        if language not in {"en", "es"}:
            raise SettingsError(f"{source}={language!r}: voxagent speaks en or es")
        # In webhook mode Telnyx transcribes, so only stream mode needs our own recognizer.
        first_stt = self.stt_chain[0]
        if self.use_media_streams and language not in STT_LANGUAGES[first_stt]:
            raise SettingsError(
                f"{source}={language} needs a recognizer for that language, but "
                f"STT_PROVIDER={first_stt} only understands "
                f"{', '.join(sorted(STT_LANGUAGES[first_stt]))} (set STT_PROVIDER=deepgram)"
            )
        if self.telnyx_api_key and not self.api_keys.strip() and not self.allow_unauthenticated_api:
            raise SettingsError(
                "TELNYX_API_KEY is set, so API_KEYS is needed too: without it anyone who can "
                "reach this server could place calls at your expense and read every transcript "
                "(or set ALLOW_UNAUTHENTICATED_API=true to run open anyway)"
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
            from voxagent.channels.telnyx.signatures import SignatureError, load_public_key

            try:
                load_public_key(self.telnyx_public_key)
            except SignatureError as exc:
                raise SettingsError(str(exc)) from None
        if self.aws_bucket_name:
            for name in ("aws_access_key_id", "aws_secret_access_key"):
                if not getattr(self, name):
                    raise SettingsError(f"AWS_BUCKET_NAME is set, so {name.upper()} is needed too")
        if self.barge_in_min_ms > self.end_of_turn_silence_ms * 4:
            raise SettingsError(
                "BARGE_IN_MIN_MS is implausibly long next to END_OF_TURN_SILENCE_MS"
            )

    def _check_chains(self) -> None:
        """Every provider in every chain is known and has its key: a fallback that cannot
        start is no fallback, so it is refused at start-up, not discovered mid-call."""
        stages = (
            ("STT_PROVIDER", self.stt_chain, tuple(STT_LANGUAGES)),
            ("LLM_PROVIDER", self.llm_chain, LLM_AGENTS),
            ("TTS_PROVIDER", self.tts_chain, TTS_VOICES),
        )
        for setting, chain, known in stages:
            if not chain:
                raise SettingsError(f"{setting} is empty (choose from {', '.join(known)})")
            for name in chain:
                if name not in known:
                    raise SettingsError(
                        f"{setting}={name!r} is not known (choose from {', '.join(known)})"
                    )
            if len(set(chain)) != len(chain):
                raise SettingsError(f"{setting} names a provider twice")
        keys = {
            "deepgram": ("STT_PROVIDER", "deepgram_api_key"),
            "anthropic": ("LLM_PROVIDER", "claude_api_key"),
            "elevenlabs": ("TTS_PROVIDER", "elevenlabs_api_key"),
            "cartesia": ("TTS_PROVIDER", "cartesia_api_key"),
        }
        for name in [*self.stt_chain, *self.llm_chain, *self.tts_chain]:
            if name in keys and not getattr(self, keys[name][1]):
                setting, key = keys[name]
                raise SettingsError(f"{setting} uses {name}, which needs {key.upper()}")
        if (
            "openai" in self.llm_chain
            and not self.openai_api_key
            and self.openai_base_url.rstrip("/") == DEFAULT_OPENAI_BASE_URL
        ):
            raise SettingsError(
                "LLM_PROVIDER uses openai at api.openai.com, which needs OPENAI_API_KEY "
                "(or set OPENAI_BASE_URL to a local server such as Ollama or vLLM)"
            )


def _chain(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


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
