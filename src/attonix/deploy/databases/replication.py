"""The live replication topology of a PostgreSQL server, judged against the blueprint.

A declared database with ``replicas: N`` and ``synchronous_replicas: S`` needs, seen from its
primary: ``N - 1`` standbys streaming, at least ``S`` of them synchronous (``sync_state`` of
``sync`` or ``quorum`` in ``pg_stat_replication``) and ``synchronous_standby_names`` asking for
them. The judgement reads what the server reports; it never assumes the configuration works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from attonix.blueprint.model import Database


@dataclass(frozen=True, slots=True)
class Standby:
    """One standby as the primary sees it."""

    name: str
    address: str
    state: str
    sync_state: str
    replay_lag_seconds: float | None = None

    @property
    def streaming(self) -> bool:
        """True when the standby receives WAL continuously."""
        return self.state == "streaming"

    @property
    def synchronous(self) -> bool:
        """True when commits wait for this standby."""
        return self.streaming and self.sync_state in ("sync", "quorum")


@dataclass(frozen=True, slots=True)
class Topology:
    """What the server reports about replication."""

    in_recovery: bool
    synchronous_standby_names: str
    standbys: tuple[Standby, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "role": "standby" if self.in_recovery else "primary",
            "synchronous_standby_names": self.synchronous_standby_names,
            "standbys": [
                {
                    "name": s.name,
                    "address": s.address,
                    "state": s.state,
                    "sync_state": s.sync_state,
                    "replay_lag_seconds": s.replay_lag_seconds,
                }
                for s in self.standbys
            ],
        }


TOPOLOGY_SQL = """
SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names'),
       ARRAY(SELECT json_build_object(
                 'name', application_name, 'address', coalesce(client_addr::text, 'local'),
                 'state', coalesce(state, 'unknown'), 'sync', coalesce(sync_state, 'unknown'),
                 'lag', extract(epoch FROM replay_lag))::text
             FROM pg_stat_replication ORDER BY application_name)
"""


def topology_from_row(row: tuple[Any, ...]) -> Topology:
    """A :class:`Topology` from one row of :data:`TOPOLOGY_SQL`."""
    standbys = []
    for text in row[2]:
        s = json.loads(text)
        lag = s.get("lag")
        standbys.append(
            Standby(
                name=s["name"],
                address=s["address"],
                state=s["state"],
                sync_state=s["sync"],
                replay_lag_seconds=None if lag is None else float(lag),
            )
        )
    return Topology(bool(row[0]), str(row[1]), tuple(standbys))


def judge(topology: Topology, database: Database) -> tuple[str, list[str]]:
    """A one-line summary, and what differs from the blueprint's HA declaration."""
    want_standbys = database.replicas - 1
    want_sync = database.synchronous_replicas
    streaming = [s for s in topology.standbys if s.streaming]
    sync = [s for s in streaming if s.synchronous]
    problems: list[str] = []
    if database.managed is not None:
        # A managed service replicates out of sight of its users; its own API says how.
        summary = "managed: replication is the provider's (not visible over SQL)"
        return summary, problems
    if topology.in_recovery:
        problems.append("the configured endpoint is a standby, not the primary")
    if len(streaming) < want_standbys:
        problems.append(f"{len(streaming)} of {want_standbys} standby(s) streaming")
    if len(sync) < want_sync:
        problems.append(
            f"{len(sync)} of {want_sync} synchronous standby(s)"
            + ("" if topology.synchronous_standby_names else " (synchronous_standby_names empty)")
        )
    names = ", ".join(f"{s.name} {s.state}/{s.sync_state}" for s in topology.standbys) or "none"
    summary = (
        f"replication: {'standby' if topology.in_recovery else 'primary'}, standbys: {names}; "
        f"want {want_standbys} streaming, {want_sync} synchronous"
    )
    return summary, problems
