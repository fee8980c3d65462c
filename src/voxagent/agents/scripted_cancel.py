"""The receptionist's cancel flow: find the pet's appointment, read it back, cancel on "yes".

A mixin of :class:`~voxagent.agents.scripted.ScriptedReceptionist`, kept apart from the
dialogue core and the booking flow (state and words are in
:mod:`~voxagent.agents.scripted_base`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from voxagent.agents.scripted_base import ScriptedBase, Step, _Heard, _Reply
from voxagent.agents.understanding import Intent, extract_pet_name

__all__ = ["CancelFlow"]


class CancelFlow(ScriptedBase):
    """Finds an appointment by pet name and cancels it once the caller confirms."""

    # -- cancelling -------------------------------------------------------------------------------

    async def _cancel_lookup(self, heard: _Heard, out: _Reply, *, expecting: bool) -> bool:
        pet = extract_pet_name(
            heard.text, self.lang, expecting=expecting, exclude=self._service_words
        )
        if not pet:
            if expecting:
                return False
            self._ask(out, Step.CANCEL_PET, "cancel_ask_pet")
            return True
        day = heard.day.isoformat() if heard.day else None
        result = await self.tools.find_appointments(pet, day)
        found = result.get("appointments") or []
        if not found:
            out.say(self._line("cancel_not_found", pet=pet))
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
            return True
        self._cancel_target = found[0]
        self._ask(out, Step.CANCEL_CONFIRM, "cancel_confirm", **self._cancel_values(found[0]))
        return True

    async def _cancel_answer(self, heard: _Heard, out: _Reply) -> bool:
        target = self._cancel_target
        if target is None:
            return False
        if Intent.YES in heard.intents and Intent.NO not in heard.intents:
            result = await self.tools.cancel_appointment(
                target["pet_name"], appointment_id=int(target["id"])
            )
            self._cancel_target = None
            if result.get("ok"):
                out.say(self._line("cancel_done", **self._cancel_values(target)))
            else:
                out.say(self._line("cancel_not_found", pet=target["pet_name"]))
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
            return True
        if Intent.NO in heard.intents or Intent.STOP in heard.intents:
            self._cancel_target = None
            out.say(self._line("cancel_kept"))
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
            return True
        return False

    def _cancel_values(self, appointment: dict[str, Any]) -> dict[str, str]:
        reason = str(appointment.get("reason", ""))
        return {
            "pet": str(appointment["pet_name"]),
            "service": self.persona.service_label(reason, self.lang),
            "when": self.persona.format_when(
                datetime.fromisoformat(str(appointment["start"])), self.lang
            ),
        }
