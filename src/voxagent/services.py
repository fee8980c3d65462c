"""The composition root: settings in, the running parts of a server out.

Built once per process (by the app's lifespan, or a test) and torn down in reverse: the
database and media store, the providers (in the call factory), the call lifecycle, and Telnyx
when it is configured. Nothing else in the code builds these parts, so nothing else has to
know how they fit together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime

import psutil
import socketio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxagent.calls.command_bus import CommandBus
from voxagent.calls.commands import CallCommands
from voxagent.calls.factory import CallFactory
from voxagent.calls.guard import OutboundGuard
from voxagent.calls.info import CallInfo
from voxagent.calls.instances import InstanceRegistry
from voxagent.calls.lifecycle import CallLifecycle
from voxagent.calls.ownership import CallOwnership
from voxagent.calls.records import RecordKeeper
from voxagent.calls.redis_sessions import RedisSessionStore
from voxagent.calls.resilient_sessions import ResilientSessionStore
from voxagent.calls.sessions import MemorySessionStore, Session, SessionStore
from voxagent.calls.shared_batches import SharedBatches
from voxagent.calls.shared_history import SharedHistory
from voxagent.channels.browser.protocol import CLIENT_EVENTS, SERVER_EVENTS
from voxagent.channels.browser.service import BrowserService
from voxagent.channels.browser.shared_resume import SharedResume
from voxagent.channels.telnyx.controller import STREAM_FORMATS
from voxagent.channels.telnyx.handover import CallHandover
from voxagent.channels.telnyx.service import TelnyxService
from voxagent.channels.webrtc.host_addresses import restrict_host_addresses
from voxagent.channels.webrtc.service import WebRTCService
from voxagent.native_heap import HeapTrimmer, limit_arenas
from voxagent.periodic import Periodic
from voxagent.security.access import Access
from voxagent.security.api_keys import ApiKeys
from voxagent.security.dial_policy import DialPolicy
from voxagent.security.media_urls import MediaSigner
from voxagent.security.rate_limit import RateLimiter
from voxagent.settings import Settings, SettingsError
from voxagent.state.database import Database
from voxagent.storage import Storage, StorageError, build_storage
from voxagent.telemetry.client_reports import ClientReports
from voxagent.telemetry.logging import quiet_logger
from voxagent.telemetry.loop_lag import LoopLagMonitor
from voxagent.telemetry.metrics import LiveReadings, Metrics
from voxagent.telemetry.metrics_server import serve_metrics
from voxagent.telemetry.stats import ServerStats
from voxagent.telemetry.tracing import TurnTracer, build_tracer

__all__ = ["Services", "running"]

log = logging.getLogger(__name__)

RSS_SAMPLE_S = 10.0
RSS_SAMPLES_KEPT = 360


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started_at = time.monotonic()
        self._process = psutil.Process()
        self.instance_id = uuid.uuid4().hex[:12]
        """This process among the deployment's instances (heartbeats, commands)."""
        self.stats = ServerStats()
        self.access = Access(ApiKeys.parse(settings.api_keys))
        self.db = Database(settings.database_url)
        secret = settings.media_url_secret.encode() or secrets.token_bytes(32)
        signer = MediaSigner(secret, settings.media_url_ttl_seconds)
        try:  # no I/O here: the S3 client opens on first use, and start() checks it
            self.storage: Storage = build_storage(
                bucket=settings.aws_bucket_name or None,
                region=settings.aws_region,
                access_key_id=settings.aws_access_key_id,
                secret_access_key=settings.aws_secret_access_key,
                endpoint_url=settings.aws_endpoint_url,
                folder=settings.s3_bucket_folder,
                local_dir=settings.media_dir,
                public_base_url=settings.webhook_base_url,
                url_expiry_seconds=settings.s3_url_expiry_seconds,
                signer=signer,
            )
        except StorageError as exc:
            raise SettingsError(str(exc)) from None
        self.factory = CallFactory(settings, self.db, self._provider_switched)
        self.records = RecordKeeper(
            self.db, self.storage, redact_transcripts=settings.redact_transcripts
        )
        self.redis: Redis | None = None
        sessions: SessionStore = MemorySessionStore()
        if settings.redis_url:
            self.redis = Redis.from_url(
                settings.redis_url,
                decode_responses=True,
                socket_timeout=2,
                socket_connect_timeout=2,
            )
            self.shared_sessions = ResilientSessionStore(
                RedisSessionStore(
                    self.redis,
                    prefix=settings.redis_key_prefix,
                    ttl_s=settings.session_ttl_seconds,
                )
            )
            sessions = self.shared_sessions
            self.ownership = CallOwnership(
                self.redis, prefix=settings.redis_key_prefix, instance_id=self.instance_id
            )
        self.calls = CallLifecycle(self.factory, sessions, self.records, self.stats)
        self.commands = CallCommands(self.calls)
        self.handover: CallHandover | None = None
        """With Redis and Telnyx: a draining instance hands its phone calls to the others."""
        self.registry: InstanceRegistry | None = None
        self.bus: CommandBus | None = None
        if self.redis is not None:
            self.registry = InstanceRegistry(
                self.redis,
                prefix=settings.redis_key_prefix,
                instance_id=self.instance_id,
                load=lambda: self.calls.active,
                draining=lambda: self.calls.draining,
            )
            self.bus = CommandBus(
                self.redis,
                prefix=settings.redis_key_prefix,
                instance_id=self.instance_id,
                handler=self.commands.handle,
            )
            self.commands.ownership = self.ownership
            self.calls.on_open = self.ownership.claim
            self.commands.bus = self.bus
        if self.redis is not None:
            self.calls.shared_history = SharedHistory(
                self.redis, prefix=settings.redis_key_prefix, ttl_s=settings.session_ttl_seconds
            )
        guard = OutboundGuard(
            DialPolicy.parse(settings.allowed_dial_prefixes, settings.denied_dial_prefixes),
            sessions,
            max_concurrent=settings.max_concurrent_calls,
            calls_per_minute=settings.calls_per_minute,
        )
        self.telnyx = TelnyxService(settings, self.calls, self.stats, guard)
        if self.redis is not None:
            self.telnyx.shared_batches = SharedBatches(
                self.redis, prefix=settings.redis_key_prefix, ttl_s=settings.session_ttl_seconds
            )
        manager = None
        if settings.redis_url:  # a user's tabs on different instances share their room
            manager = socketio.AsyncRedisManager(
                settings.redis_url,
                channel=f"{settings.redis_key_prefix}socketio",
                logger=quiet_logger("socketio.redis"),  # it logs every emit Redis misses
            )
        self.browser = BrowserService(settings, self.calls, manager)
        if self.redis is not None and self.calls.shared_history is not None:
            self.browser.namespace.shared_resume = SharedResume(
                self.redis,
                self.calls.shared_history,
                prefix=settings.redis_key_prefix,
                ttl_s=settings.session_ttl_seconds,
            )
        self.heap_trimmer = HeapTrimmer(settings.heap_trim_interval_s)
        self.metrics = Metrics(self.instance_id, self._live_readings())
        self.calls.metrics = self.metrics
        self.loop_lag = LoopLagMonitor(self.metrics.loop_lag.observe)
        self.rss_samples: deque[float] = deque(maxlen=RSS_SAMPLES_KEPT)
        """This process's RSS in MB, every RSS_SAMPLE_S over the last hour (the dashboard)."""
        self._rss_sampler = Periodic(RSS_SAMPLE_S, self._sample_rss, name="rss", at_once=True)
        self._switch_times: deque[float] = deque(maxlen=10_000)
        self.client_report_limit = RateLimiter(100)
        self.client_reports = ClientReports()
        """What pages reported about themselves, for the dashboard."""
        self._metrics_server: asyncio.Server | None = None
        self.tracer: TurnTracer | None = None
        """OpenTelemetry traces of every turn (OTEL_EXPORTER_OTLP_ENDPOINT set), from start()."""
        self.webrtc: WebRTCService | None = None
        if settings.webrtc_max_peers > 0:
            hosts = [a.strip() for a in settings.webrtc_host_addresses.split(",") if a.strip()]
            restrict_host_addresses(hosts)
            self.webrtc = WebRTCService(settings, self.browser.namespace)

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        s = self.settings
        t0 = time.perf_counter()
        limit_arenas(s.malloc_arenas)  # before the model and codec threads exist
        self.heap_trimmer.start()
        self.loop_lag.start()
        self._rss_sampler.start()
        if s.metrics_port:
            self._metrics_server = await serve_metrics(self.metrics, s.host, s.metrics_port)
        self.tracer = self.calls.tracer = build_tracer(self.instance_id)
        if self.redis is not None:
            await self.shared_sessions.check()
            self.ownership.start(self.calls.call_ids)
            assert self.registry is not None and self.bus is not None
            self.registry.start()
            await self.bus.start()
        await self.db.connect()
        try:
            await self.storage.check()
        except StorageError as exc:
            raise SettingsError(str(exc)) from None
        await self.factory.start(STREAM_FORMATS[s.stream_codec])
        if s.telnyx_api_key:
            from voxagent.channels.telnyx.call_control import CallControlClient
            from voxagent.channels.telnyx.controller import (
                SharedEventDeduplicator,
                TelnyxCallController,
            )
            from voxagent.channels.telnyx.rescue import CallRescuer

            self.telnyx.controller = TelnyxCallController(
                s,
                CallControlClient(s.telnyx_api_key, s.telnyx_base_url),
                self.calls,
                self.storage,
                on_session_ended=self._session_ended,
                dedup=(
                    SharedEventDeduplicator(
                        self.redis, prefix=s.redis_key_prefix, ttl_s=s.session_ttl_seconds
                    )
                    if self.redis is not None
                    else None
                ),
            )
            if self.redis is not None:
                self.telnyx.rescuer = CallRescuer(
                    self.calls.sessions,
                    self.ownership,
                    self.telnyx.controller,
                    serving=self.calls.call_ids,
                )
                self.telnyx.rescuer.start()
                self.commands.adopt = self.telnyx.rescuer.adopt
                assert self.registry is not None and self.bus is not None
                self.handover = CallHandover(
                    self.calls, self.telnyx.controller, self.ownership, self.registry, self.bus
                )
        else:
            log.warning(
                "TELNYX_API_KEY is not set: no calls can be placed, and /stream/media accepts "
                "any connection (fine for local development and the simulator)"
            )
        self._log_access()
        if not s.telnyx_verify_signatures:
            log.warning(
                "TELNYX_VERIFY_SIGNATURES=false: webhooks are NOT authenticated; anyone can "
                "drive calls. Use this only for local development."
            )
        providers = self.factory.describe()
        log.info(
            "ready in %.1f s: stt=%s llm=%s tts=%s vad=%s persona=%s language=%s db=%s",
            time.perf_counter() - t0,
            providers["stt"],
            providers["llm"],
            providers["tts"],
            providers["vad"],
            s.persona,
            s.effective_language,
            self.db.safe_url,
        )

    def _log_access(self) -> None:
        s = self.settings
        if self.access.keys.configured:
            log.info("the API needs a key (API_KEYS: %d configured)", len(s.api_keys.split(",")))
        elif s.telnyx_api_key:
            log.warning(
                "ALLOW_UNAUTHENTICATED_API=true with Telnyx configured: ANYONE WHO CAN REACH "
                "THIS SERVER CAN PLACE CALLS AT YOUR EXPENSE AND READ EVERY TRANSCRIPT. "
                "Set API_KEYS."
            )
        else:
            log.warning(
                "API_KEYS is not set: the API is open (fine for local development without "
                "Telnyx; set API_KEYS before exposing this server)"
            )
        if not s.media_url_secret:
            log.info("MEDIA_URL_SECRET is not set: media URLs are signed with a per-process key")

    async def stop(self) -> None:
        await self.heap_trimmer.stop()
        await self.loop_lag.stop()
        await self._rss_sampler.stop()
        if self._metrics_server is not None:
            self._metrics_server.close()
            await self._metrics_server.wait_closed()
        if self.telnyx.rescuer is not None:
            await self.telnyx.rescuer.stop()
        if self.redis is not None:
            assert self.registry is not None and self.bus is not None
            await self.bus.stop()
            await self.registry.stop()
            await self.ownership.stop()
            await self.shared_sessions.close()
            await self.redis.aclose()
        if self.webrtc is not None:
            await self.webrtc.close()
        await self.browser.close()
        if self.telnyx.controller is not None:
            await self.telnyx.controller.close()
        await self.calls.stop()
        if self.tracer is not None:  # after the last turns: what is queued is sent
            self.calls.tracer = None
            await asyncio.to_thread(self.tracer.shutdown)
        await self.factory.close()
        await self.storage.close()
        await self.db.close()

    async def drain(self, grace_seconds: float) -> None:
        """Refuse new calls; with other instances alive, hand them the phone calls (between
        turns) and send the browsers to them; let what is left finish here, then end the rest
        politely."""
        deadline = time.monotonic() + grace_seconds
        self.calls.draining = True
        if self.registry is not None:
            try:
                await self.registry.beat()  # the others stop sending us calls at once
                others = await self.registry.others()
            except (RedisError, OSError) as exc:
                log.warning("draining: cannot see the other instances (%s)", exc)
                others = []
            if others:
                await self.browser.namespace.send_elsewhere()
        if self.handover is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.handover.hand_over_all(grace_seconds), grace_seconds)
        left = max(0.0, deadline - time.monotonic())
        await self.calls.drain(left, self._shutdown_line)

    def _shutdown_line(self, info: CallInfo) -> str:
        return self.factory.persona(info.persona).line("shutdown", info.language)

    def _provider_switched(self, stage: str, failed: str, to: str, reason: str) -> None:
        """A call's provider failed and the next in its chain took over: count it."""
        self.stats.provider_switches[f"{stage}:{failed}->{to}"] += 1
        self.metrics.switched(stage, failed, to)
        self._switch_times.append(time.time())

    def switches_since(self, since: datetime) -> int:
        """Provider fallbacks taken since then (the dashboard's errors of the last hour)."""
        moment = since.timestamp()
        return sum(1 for t in self._switch_times if t >= moment)

    async def _sample_rss(self) -> None:
        self.rss_samples.append(self._process.memory_info().rss / 1e6)

    def _live_readings(self) -> LiveReadings:
        """What ``/metrics`` reads when scraped (counters the parts keep anyway)."""
        namespace = self.browser.namespace
        known = {"in": set(CLIENT_EVENTS), "out": set(SERVER_EVENTS)}

        def webhooks() -> dict[str, int]:
            controller = self.telnyx.controller
            return {
                "received": self.stats.webhooks_received,
                "rejected": self.stats.webhooks_rejected,
                "duplicate": controller.duplicates if controller else 0,
            }

        def socketio_events() -> dict[tuple[str, str], int]:
            counts: dict[tuple[str, str], int] = {}
            for direction, seen in (
                ("in", namespace.metrics.events_in),
                ("out", namespace.metrics.events_out),
            ):
                for event, count in seen.items():
                    name = event if event in known[direction] else "other"
                    counts[direction, name] = counts.get((direction, name), 0) + count
            return counts

        return LiveReadings(
            active_calls=self.calls.active_by_channel,
            webhooks=webhooks,
            malformed=lambda: {
                "media_stream": self.stats.malformed_messages,
                "browser": sum(namespace.metrics.rejected.values()),
            },
            dropped_frames=self.calls.dropped_by_channel,
            socketio_events=socketio_events,
            webrtc_peers=lambda: len(self.webrtc.peers) if self.webrtc is not None else 0,
            draining=lambda: self.calls.draining,
        )

    def _session_ended(self, session: Session) -> None:
        """A call ended for good (its hang-up webhook): free its batch slot, if any."""
        batch = self.telnyx.batches.get(session.batch_id or "")
        if batch is not None:
            batch.session_ended(session)

    # ----------------------------------------------------------------- health
    def status(self) -> dict[str, object]:
        """What anyone may know: whether the server takes calls."""
        return {"status": "draining" if self.calls.draining else "ok"}

    def health(self) -> dict[str, object]:
        """The details, for key holders: load, providers, counters."""
        s = self.settings
        controller = self.telnyx.controller
        return {
            "status": "draining" if self.calls.draining else "ok",
            "instance": self.instance_id,
            "uptime_seconds": round(time.monotonic() - self.started_at, 1),
            "active_calls": self.calls.active,
            "telnyx": "configured" if controller else "not configured",
            "redis": self.shared_sessions.state if self.redis is not None else "off",
            "providers": {
                "stt": s.stt_provider,
                "llm": s.llm_provider,
                "tts": s.tts_provider,
                "vad": s.vad_engine,
            },
            "persona": s.persona,
            "webhooks": {
                "rejected": self.stats.webhooks_rejected,
                "duplicates": controller.duplicates if controller else 0,
            },
            "language": s.effective_language,
            "stats": self.stats.as_dict(),
        }


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Services]:
    services = Services(settings)
    await services.start()
    try:
        yield services
    finally:
        await services.stop()
