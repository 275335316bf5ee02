"""flows.jobs keeps the step slices' provider connections open from one slice to the next while
messages keep coming, and never past an idle spell, a settings change or an empty queue."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.campaigns.conftest import campaign_env, smtp_server, twilio  # noqa: F401

from fanhub.config import Settings
from fanhub.flows import jobs


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every set of lanes jobs opens, recorded (they are real lanes)."""
    made: list[Any] = []
    real = jobs.new_lanes

    def recording(settings: Settings) -> Any:
        lanes = real(settings)
        made.append(lanes)
        return lanes

    monkeypatch.setattr(jobs, "new_lanes", recording)
    return made


def test_lanes_are_kept_while_used_and_replaced_after_an_idle_spell(
    monkeypatch: pytest.MonkeyPatch,
    campaign_env: Settings,  # noqa: F811
    opened: list[Any],
) -> None:
    kept = jobs._KeptLanes()
    first = kept.take(campaign_env)
    kept.touch()
    assert kept.take(campaign_env) is first
    assert len(opened) == 1

    later = time.monotonic() + jobs.IDLE_SECONDS + 1
    monkeypatch.setattr(jobs.time, "monotonic", lambda: later)
    second = kept.take(campaign_env)
    assert second is not first and len(opened) == 2


def test_new_settings_get_new_lanes_and_close_closes(campaign_env: Settings, opened: list[Any]) -> None:  # noqa: F811
    kept = jobs._KeptLanes()
    first = kept.take(campaign_env)
    kept.touch()
    other = campaign_env.model_copy(update={"smtp_port": campaign_env.smtp_port + 1})
    second = kept.take(other)
    assert second is not first and len(opened) == 2
    kept.close()
    assert kept.lanes == [] and kept.settings is None
    kept.take(other)
    assert len(opened) == 3


def test_send_steps_without_waiting_messages_closes_the_kept_lanes(
    db: Any,
    campaign_env: Settings,  # noqa: F811
    opened: list[Any],
) -> None:
    jobs._kept.take(campaign_env)
    assert jobs._kept.lanes
    assert jobs.send_steps(db) is False
    assert jobs._kept.lanes == []
