"""A protocol-faithful fake of Telnyx Call Control: REST, signed webhooks and media streams.

It lets people develop and load-test an agent without a phone number, and it drives our
end-to-end tests. It is written from the wire formats (``../shared/PROTOCOLS.md`` §1-§3,
relative to the repository root) and shares no code with our own Telnyx client
(``voxagent.channels.telnyx``) but the public webhook-signing helpers of
:mod:`voxagent.channels.telnyx.signatures`: two independent readings of the same documents
check each other.

What it plays:

* **REST** (``POST /v2/calls``, ``POST /v2/calls/{id}/actions/<name>``, ``GET /v2/calls/{id}``):
  bearer auth, Telnyx-style validation and JSON:API error bodies, ``command_id`` idempotency,
  and fault switches (:meth:`FakeTelnyx.fail_next`).
* **Webhooks**: the §2.1 envelope, Ed25519-signed over ``f"{ts}|"`` + the raw body, delivered
  in order per call by one sender task per call, retried with ``meta.attempt`` incremented.
  The body is compact UTF-8 JSON with a non-ASCII caller name, so a receiver that re-serializes
  before verifying fails, as it would against Telnyx.
* **The other party**: with a ``stream_url``, :func:`~voxagent.simulator.caller.simulate_call`
  speaks the call's script over a media stream; without one, the party "talks" through
  ``call.transcription`` webhooks after each ``speak``/``playback`` the agent finishes.

The simulated party does not connect to our server directly: it connects to a loopback
*relay* which opens the stream to ``stream_url`` exactly as Telnyx would (auth header, same
frames, byte for byte). The relay is what lets the fake behave like the network: send
``stop`` and close the socket when anyone hangs up, report ``streaming.started`` /
``stopped`` / ``failed`` at the right moments, and tell who ended the stream. It costs one
extra loopback hop per frame, which is cheap next to the JSON/base64 work at either end.

Points where the documents are silent and a choice was made are marked *assumed*.

Layout: :class:`FakeTelnyx` (``fake``) is assembled from one mixin per concern, each over the
shared state and seams of ``base``:

* ``rest``: authentication, fault injection, routing of ``/v2/calls`` and the dial command;
  ``validation``: Telnyx's parameter checks and JSON:API error bodies;
  ``actions``: one handler per ``/actions/<name>``;
* ``flows``: how a call goes (ringing, answer, AMD, time limit, hang-up, transfer);
* ``webhooks``: building, signing, ordering, retrying and logging deliveries;
* ``callee``: the scripted party in webhook mode (transcripts after each agent turn);
  ``playback``: the agent's ``speak`` / ``playback_start`` clips as the line plays them;
* ``media``: media streams and the stream-mode party; ``media_line``: one relayed stream;
* ``call`` (:class:`FakeCall`), ``records`` (what tests inspect), ``server`` (:func:`serve_app`).
"""

from voxagent.simulator.fake_telnyx.call import Behaviour, FakeCall
from voxagent.simulator.fake_telnyx.fake import FakeTelnyx, run_fake_telnyx
from voxagent.simulator.fake_telnyx.records import EmittedEvent, RestRequest, WebhookDelivery
from voxagent.simulator.fake_telnyx.server import serve_app

__all__ = [
    "Behaviour",
    "EmittedEvent",
    "FakeCall",
    "FakeTelnyx",
    "RestRequest",
    "WebhookDelivery",
    "run_fake_telnyx",
    "serve_app",
]
