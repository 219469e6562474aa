"""A Gamma market as the store keeps it: one row per outcome token, checked against the ids
that were asked for before anything is written.

Gamma lists `outcomes`, `clobTokenIds` (and, for Protocol V2, `positionIds`) as
JSON-encoded strings whose index i matches (docs/markets.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from polygon_pipeline.provider_errors import ForeignAnswer

OPEN, CLOSED, RESOLVED = "open", "closed", "resolved"


@dataclass(frozen=True, slots=True)
class MarketOutcome:
    token_id: int
    condition_id: str
    question: str
    outcome: str
    outcome_index: int
    slug: str | None
    event_id: str | None
    event_title: str | None
    neg_risk: bool
    end_date: datetime | None
    state: str  # open | closed | resolved


def _list(value: object) -> list:
    """A list Gamma may send JSON-encoded."""
    if value is None or value == "":
        return []
    parsed = json.loads(value) if isinstance(value, str) else value
    if not isinstance(parsed, list):
        raise ValueError(f"expected a list, got {value!r}")
    return parsed


def _date(value: object) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _state(raw: dict) -> str:
    if str(raw.get("umaResolutionStatus") or "").lower() == "resolved":
        return RESOLVED
    return CLOSED if raw.get("closed") else OPEN


def market_outcomes(raw: dict) -> list[MarketOutcome]:
    """The outcome rows of one market; raises ValueError (and kin) on anything malformed."""
    names = [str(n) for n in _list(raw.get("outcomes"))]
    events = raw.get("events") or [{}]
    event = events[0] if isinstance(events, list) else {}
    rows = []
    for ids in (_list(raw.get("clobTokenIds")), _list(raw.get("positionIds"))):
        if ids and len(ids) != len(names):
            raise ValueError(f"{len(ids)} token ids for {len(names)} outcomes")
        for index, (token, name) in enumerate(zip(ids, names, strict=False)):
            rows.append(
                MarketOutcome(
                    token_id=int(str(token)),
                    condition_id=str(raw["conditionId"]).lower(),
                    question=str(raw["question"]),
                    outcome=name,
                    outcome_index=index,
                    slug=raw.get("slug"),
                    event_id=None if event.get("id") is None else str(event["id"]),
                    event_title=event.get("title"),
                    neg_risk=bool(raw.get("negRisk")),
                    end_date=_date(raw.get("endDate")),
                    state=_state(raw),
                )
            )
    return rows


def checked_outcomes(asked: Iterable[int], markets: Iterable[dict]) -> list[MarketOutcome]:
    """The rows of the asked ids in an answer, if every market in it holds one of them; else
    ForeignAnswer (a market nobody asked for: the answer ignored the filter, none is kept)."""
    wanted = set(asked)
    rows = []
    for raw in markets:
        outcomes = market_outcomes(raw)
        if not any(o.token_id in wanted for o in outcomes):
            raise ForeignAnswer(
                f"/markets/keyset: the answer holds market {raw.get('conditionId')!r}, whose "
                "token ids were not asked for"
            )
        rows.extend(o for o in outcomes if o.token_id in wanted)
    return rows
