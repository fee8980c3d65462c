"""A started call factory on the offline default (PocketSphinx, Piper, the scripted agents)
gives a browser-format call with ``persona="sandra"`` everything Sandra's: her agent, the
engine's lines in her words, and a tool observer threaded through ``parts``. María stays the
default, and the old ``parts(info, fmt)`` call still works."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from voxagent.agents.base import Say
from voxagent.agents.concierge_scripted import ScriptedConcierge
from voxagent.agents.scripted import ScriptedReceptionist
from voxagent.audio.format import PCM16_16K, PCMU_8K
from voxagent.calls.factory import CallFactory
from voxagent.calls.info import CallInfo, ChannelKind
from voxagent.settings import load_settings
from voxagent.state.database import Database

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def factory(tmp_path: Path) -> AsyncIterator[CallFactory]:
    settings = load_settings(_env_file=None, tts_workers=1, stt_workers=1)
    db = Database(f"sqlite:///{tmp_path}/calls.db")
    await db.connect()
    made = CallFactory(settings, db, lambda *args: None)
    await made.start(PCMU_8K)
    try:
        yield made
    finally:
        await made.close()
        await db.close()


async def test_a_browser_call_with_sandra_gets_her_parts(factory: CallFactory) -> None:
    heard: list[tuple[str, dict[str, Any]]] = []

    def observe(name: str, arguments: Mapping[str, Any], result: dict[str, Any]) -> None:
        heard.append((name, dict(arguments)))

    info = CallInfo(
        "web-1", channel=ChannelKind.BROWSER, caller="user-7", persona="sandra", language="es"
    )
    parts = factory.parts(info, PCM16_16K, on_tool=observe)
    assert isinstance(parts.agent, ScriptedConcierge)
    assert parts.lines.still_there == "¿Sigue ahí?"
    assert parts.lines.transfer_to == "+34960500123"
    said = [
        a.text async for a in parts.agent.reply("¿cuál es la clave del wifi?") if isinstance(a, Say)
    ]
    assert "ValenciaSol-Guest" in " ".join(said)
    assert heard == [("concierge_info", {"topic": "wifi"})]


async def test_maria_stays_the_default_on_either_line(factory: CallFactory) -> None:
    phone = factory.parts(CallInfo("tel-1"), PCMU_8K)
    browser = factory.parts(CallInfo("web-2", channel=ChannelKind.BROWSER), PCM16_16K)
    assert isinstance(phone.agent, ScriptedReceptionist)
    assert isinstance(browser.agent, ScriptedReceptionist)
    mine = ScriptedReceptionist(phone.agent.persona, phone.agent.tools, CallInfo("tel-2"))
    assert factory.parts(CallInfo("tel-2"), PCMU_8K, agent=mine).agent is mine
