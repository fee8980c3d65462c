"""The numbers, for machines and for people: ``GET /metrics`` (Prometheus), the dashboard's
JSON, and the browser's own timings (``POST /api/sandra/metrics``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from voxagent.channels.browser.auth import UserClaims
from voxagent.channels.webrtc.routes import session_user
from voxagent.security.access import require_api_key
from voxagent.security.rate_limit import RateLimiter
from voxagent.services import Services
from voxagent.telemetry.metrics import CONTENT_TYPE_LATEST
from voxagent.web.routes.dashboard import snapshot

__all__ = ["ClientMetrics", "router"]

router = APIRouter()
keyed = [Depends(require_api_key)]

CLIENT_REPORTS_PER_MINUTE = 100


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.get(
    "/metrics",
    dependencies=keyed,
    summary="Prometheus metrics (on METRICS_PORT instead, when it is set)",
    response_class=Response,
    responses={404: {"description": "Served on METRICS_PORT, not here"}},
)
async def prometheus(request: Request) -> Response:
    services = _services(request)
    if services.settings.metrics_port:
        raise HTTPException(404, "metrics are served on METRICS_PORT")
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def dashboard_numbers(request: Request) -> dict[str, dict[str, float | int | None]]:
    """The seed's dashboard shape, from the live calls and the last hour's records: the
    numbers the live dashboard's stream carries, computed once, in one place."""
    numbers: dict[str, dict[str, float | int | None]] = (
        await snapshot(_services(request), 3600.0)
    )["dashboard"]
    return numbers


for path in ("/api/metrics/dashboard", "/metrics/dashboard"):
    router.add_api_route(
        path,
        dashboard_numbers,
        methods=["GET"],
        dependencies=keyed,
        summary="Live calls and the last hour: p95, drop rate, success rate, memory, NAT",
    )


class ClientMetrics(BaseModel):
    """What a page measured about itself, in ms (each optional, each bounded)."""

    model_config = ConfigDict(extra="forbid")

    session_id: Annotated[str | None, Field(max_length=64)] = None
    token_ms: Annotated[float | None, Field(ge=0, le=600_000)] = None
    connect_ms: Annotated[float | None, Field(ge=0, le=600_000)] = None
    first_audio_heard_ms: Annotated[float | None, Field(ge=0, le=600_000)] = None
    playback_underruns: Annotated[int, Field(ge=0, le=10_000)] = 0


@router.post(
    "/api/sandra/metrics",
    status_code=202,
    summary="A page's own timings (token, connect, first audio heard, underruns)",
    responses={
        401: {"description": "No valid browser-session token"},
        422: {"description": "A timing missing its shape, negative or absurd"},
        429: {"description": "Over 100 reports a minute for this session"},
    },
)
async def client_metrics(
    body: ClientMetrics,
    request: Request,
    user: Annotated[UserClaims, Depends(session_user)],
) -> dict[str, object]:
    services = _services(request)
    limiter: RateLimiter = services.client_report_limit
    wait = limiter.check(user.user_id)  # a token is one page's session
    if wait is not None:
        raise HTTPException(
            429,
            f"at most {CLIENT_REPORTS_PER_MINUTE} reports a minute per session",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )
    timings = {
        name: value
        for name in ("token_ms", "connect_ms", "first_audio_heard_ms")
        if (value := getattr(body, name)) is not None
    }
    services.metrics.client_report(timings, body.playback_underruns)
    services.client_reports.add(timings, body.playback_underruns)
    services.browser.namespace.metrics.client_latency.update(timings.keys())
    return {"accepted": sorted(timings), "underruns": body.playback_underruns}
