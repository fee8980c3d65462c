"""The REST side: bearer auth, fault injection, routing, dialling and command dispatch.

Every request is recorded in :attr:`~FakeTelnyxBase.requests` with the status it got; errors
are Telnyx's JSON:API bodies (see ``validation``).
"""

from __future__ import annotations

import hmac
import json
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from voxagent.simulator.fake_telnyx.actions import CallActions
from voxagent.simulator.fake_telnyx.call import FakeCall
from voxagent.simulator.fake_telnyx.records import JsonObject, RestRequest
from voxagent.simulator.fake_telnyx.validation import (
    ApiError,
    _check_common,
    _check_enum,
    _check_stream,
    _check_url,
    _int_in,
    _is_number,
    _Problems,
)

__all__ = ["RestApi"]


class RestApi(CallActions):
    """``/v2/calls`` and ``/v2/calls/{id}/actions/*``, in front of the action handlers."""

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next ``n`` authenticated REST requests with ``status`` (500 or 429)."""
        if status not in (429, 500, 502, 503):
            raise ValueError(f"unsupported fault status {status}")
        self._faults.extend([status] * n)

    async def _endpoint(self, request: Request) -> Response:
        raw = await request.body()
        body: object = {}
        bad_json = False
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        record = RestRequest(
            request.method,
            request.url.path,
            body if isinstance(body, dict) else {},
            at=time.time(),
            raw=raw,
        )
        self.requests.append(record)
        try:
            self._authenticate(request)
            self._inject_fault()
            if bad_json or not isinstance(body, dict):
                raise ApiError(
                    400, "10015", "Bad Request", "The request body is not a JSON object."
                )
            data = self._route(request.method, request.url.path, body)
            record.status = 200
            self._log("REST %s %s -> 200", request.method, request.url.path)
            return JSONResponse({"data": data})
        except ApiError as exc:
            record.status = exc.status
            self._log("REST %s %s -> %d %s", request.method, request.url.path, exc.status, exc)
            return JSONResponse(exc.body(), exc.status, headers=exc.headers)

    def _authenticate(self, request: Request) -> None:
        expected = f"Bearer {self.api_key}".encode()
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise ApiError(
                401,
                "10009",
                "Authentication failed",
                "The required authentication headers were either invalid or not included in "
                "the request.",
            )

    def _inject_fault(self) -> None:
        if not self._faults:
            return
        status = self._faults.popleft()
        if status == 429:
            raise ApiError(
                429,
                "10011",
                "Too many requests",
                "You have exceeded the maximum number of allowed requests.",
                headers={
                    "Retry-After": "1",
                    "x-ratelimit-limit": "20",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": "1",
                },
            )
        raise ApiError(status, "10007", "Unexpected error", "An unexpected error occured.")

    def _route(self, method: str, path: str, body: JsonObject) -> JsonObject:
        parts = path.strip("/").split("/")
        if parts[:2] == ["v2", "calls"]:
            if len(parts) == 2 and method == "POST":
                return self._dial(body)
            if len(parts) == 3 and method == "GET":
                return self._call_status(self._lookup(parts[2]))
            if len(parts) == 5 and parts[3] == "actions" and method == "POST":
                return self._command(parts[2], parts[4], body)
        raise ApiError(404, "10005", "Resource not found", f"No route for {method} {path}.")

    def _lookup(self, call_control_id: str) -> FakeCall:
        call = self.calls.get(call_control_id)
        if call is None:
            raise ApiError(
                422,
                "90015",
                "Invalid Call Control ID",
                "The call_control_id provided was not valid.",
                pointer="/call_control_id",
            )
        return call

    def _call_status(self, call: FakeCall) -> JsonObject:
        end = call.ended_at or time.time()
        return {
            "call_control_id": call.call_control_id,
            "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id,
            "is_alive": call.alive,
            "record_type": "call",
            "call_duration": int(end - (call.answered_at or end)),
            "client_state": call.client_state,
            "start_time": call.start_time,
        }

    def _dial(self, body: JsonObject) -> JsonObject:
        problems = _Problems()
        connection_id = body.get("connection_id")
        if not isinstance(connection_id, str) or not connection_id:
            problems.missing("connection_id")
        elif self.connection_id is not None and connection_id != self.connection_id:
            problems.add(
                "10017",
                "Associated resource does not exist",
                f"Connection {connection_id} does not exist.",
                "connection_id",
            )
        to = body.get("to")
        targets = to if isinstance(to, list) else [to]
        if to is None or to == []:
            problems.missing("to")
        elif not all(_is_number(t, sip=True) for t in targets):
            problems.add(
                "10016",
                "Phone number must be in +E.164 format",
                "The 'to' parameter must be in +E.164 format (or a SIP URI).",
                "to",
            )
        from_number = body.get("from")
        if from_number is None:
            problems.missing("from")
        elif not _is_number(from_number):
            problems.add(
                "10016",
                "Phone number must be in +E.164 format",
                "The 'from' parameter must be in +E.164 format.",
                "from",
            )
        _check_common(body, problems)
        _check_url(body, "webhook_url", ("http://", "https://"), problems)
        _check_stream(body, problems)
        _check_enum(body, "answering_machine_detection", problems)
        _int_in(body, "timeout_secs", 5, 600, problems)
        _int_in(body, "time_limit_secs", 30, 14400, problems)
        problems.raise_if_any()

        command_id = body.get("command_id")
        if isinstance(command_id, str):
            self._dial_commands = {
                k: v for k, v in self._dial_commands.items() if time.time() - v[0] < 60
            }
            if command_id in self._dial_commands:
                previous = self.calls[self._dial_commands[command_id][1]]
                return self._dial_response(previous)
        number = str(targets[0])
        script = self.scripts.get(number, self.callee_script)
        call = self._new_call(
            "outgoing",
            str(from_number),
            number,
            connection_id=str(connection_id),
            webhook_url=body.get("webhook_url") or self.webhook_url,
            script=list(script),
            client_state=body.get("client_state"),
        )
        call.options = body
        call.behaviour = self.behaviour.get(number, "answer")
        if isinstance(command_id, str):
            self._dial_commands[command_id] = (time.time(), call.call_control_id)
        self._emit(call, "call.initiated", self._initiated_fields(call))
        self._spawn(call, self._outbound_flow(call), "dial")
        return self._dial_response(call)

    @staticmethod
    def _dial_response(call: FakeCall) -> JsonObject:
        # Dialling is asynchronous: the call is not alive yet (§1.1).
        return {
            "call_control_id": call.call_control_id,
            "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id,
            "is_alive": False,
            "record_type": "call",
        }

    def _command(self, call_control_id: str, action: str, body: JsonObject) -> JsonObject:
        handler = self._actions.get(action)
        if handler is None:
            raise ApiError(404, "10005", "Resource not found", f"Unknown action '{action}'.")
        call = self._lookup(call_control_id)
        command_id = body.get("command_id")
        if isinstance(command_id, str) and command_id in call._commands:
            return {"result": "ok"}  # a repeated command is ignored, not an error
        if not call.alive:
            raise ApiError(
                422,
                "90018",
                "Call has already ended",
                "This call is no longer active and can't receive commands.",
                pointer="/call_control_id",
            )
        problems = _Problems()
        _check_common(body, problems)
        problems.raise_if_any()
        previous_state = call.client_state
        if body.get("client_state") is not None:
            call.client_state = body["client_state"]  # echoed in every later webhook
        try:
            handler(self, call, body)
        except ApiError:
            call.client_state = previous_state
            raise
        if isinstance(command_id, str):
            call._commands.add(command_id)
        call.notify()
        return {"result": "ok"}
