"""Several instances, proven with real processes (1 and 2 of 5): two ``voxagent serve``
behind the real haproxy (``deploy/haproxy.cfg``), the real Redis (a prefix of the test's own)
and a PostgreSQL database of their own, with the fake Telnyx and simulated callers.

1. Telnyx's webhooks reach A while the media stream lands on B: the call books an appointment,
   and a webhook retried to the other instance is handled once.
2. The instance serving a call is SIGKILLed: the other one picks the call up within seconds,
   the caller hears the agent again, the appointment stays booked, the record shows it.

Proofs 3 to 5 are in ``test_survival_drain.py``; the sixth, load through the balancer, is
``bench/instances_load.py``. Nothing here asserts what a recognizer heard in synthetic speech.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fakes.cluster import cluster
from fakes.survival import (
    appointments,
    call_details,
    ended,
    instance_ids,
    owner_of,
    place,
    turn_kinds,
    until,
)
from voxagent.simulator.caller import DEFAULT_SCRIPT
from voxagent.simulator.fake_telnyx import FakeTelnyx

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

AFTER_BOOKING_TOO = [
    *DEFAULT_SCRIPT[:-1],
    "what are your opening hours",
    "and what is your address",
    "no thank you goodbye",
]
"""The booking, then questions: the instance is killed once the appointment is in the
database, and the call must still be going on then (on a loaded machine, the booking's
confirmation and a goodbye alone once ended the call before the kill)."""


async def test_webhooks_on_a_media_on_b_books_and_a_retried_webhook_counts_once(
    tmp_path: Path,
) -> None:
    async with (
        FakeTelnyx(api_key="KEY_FAKE", callee_script=list(DEFAULT_SCRIPT), transcribe=True) as fake,
        cluster(
            tmp_path,
            fake,
            # A dials with its own address for Telnyx's webhooks, the balancer's for the stream.
            per_instance={"a": {"webhook_base_url": "{a}", "stream_url": "{public_stream}"}},
        ) as c,
    ):
        assert c.balancer is not None
        await c.balancer.command("set server voxagent/a state drain")  # new streams: to B
        async with c.http(c.a.url) as on_a:
            call_id = await place(on_a, "+15557770201")
            details = await ended(on_a, call_id)
        assert f"call {call_id}: media stream" in c.b.log(), "the stream was served by B"
        assert f"call {call_id}: media stream" not in c.a.log()
        assert details["mode"] == "media_stream" and details["state"] == "ended"
        booked = await appointments(c.database_url)
        dialogue = [(t["user_text"], t["agent_text"]) for t in details["turns"]]
        assert [call for call, _ in booked] == [call_id], dialogue

        answered = fake.deliveries("call.answered", call_id)[0]
        assert answered.url.startswith(c.a.url)
        status = await fake.redeliver(answered.event_id, f"{c.b.url}/webhook/telnyx")
        assert status == 200
        retried = fake.deliveries("call.answered", call_id)[-1]
        assert retried.attempt == 2 and retried.url.startswith(c.b.url)
        _, health_b = await c.b.health()
        assert health_b["webhooks"]["duplicates"] == 1, "B knew A had handled it"


async def test_a_call_whose_instance_is_killed_goes_on_on_the_other_one(tmp_path: Path) -> None:
    async with (
        FakeTelnyx(
            api_key="KEY_FAKE",
            callee_script=AFTER_BOOKING_TOO,
            transcribe=True,
            callee_hangup_after_s=20.0,  # the caller waits on the line, as people do
            callee_options={"hangup_after_s": 2.0},
        ) as fake,
        cluster(tmp_path, fake) as c,
        c.http() as http,
    ):
        ids = await instance_ids(c)
        call_id = await place(http, "+15557770202")

        async def booked() -> bool:
            return any(call == call_id for call, _ in await appointments(c.database_url))

        await until(booked, 150, "the booking")
        owner = await owner_of(c, call_id, ids)
        survivor = c.b if owner is c.a else c.a
        assert fake.calls[call_id].alive, "the call ended before its instance could be killed"
        killed_at = time.monotonic()
        await owner.kill()

        async with c.http(survivor.url) as on_survivor:

            async def heard_again() -> bool:
                live = await call_details(on_survivor, call_id)
                return any(
                    t["kind"] == "reconnected" and t["first_audio_sent_ms"] is not None
                    for t in live.get("turns", [])
                )

            await until(heard_again, 15, "the agent speaking again")
            back_after = time.monotonic() - killed_at
            details = await ended(on_survivor, call_id)
        print(f"killed → the agent speaks again on the survivor: {back_after:.1f} s")
        assert back_after < 5.0, f"{back_after:.1f} s"
        assert details["counters"]["handovers"] == 1, "the record shows the handover"
        assert "reconnected" in turn_kinds(details) and turn_kinds(details)[0] == "greeting"
        assert [call for call, _ in await appointments(c.database_url)] == [call_id]
        # The talk went on after the apology: the caller spoke on the new stream, the agent
        # answered. (What the agent says then is not asserted: the scripted agent starts its
        # flow afresh on the survivor, with the history but not its booking state.)
        kinds = turn_kinds(details)
        assert kinds.index("reconnected") < len(kinds) - 1, kinds
        resumed = fake.calls[call_id].simulations[-1]
        assert any(t.speaker == "caller" for t in resumed.turns)
