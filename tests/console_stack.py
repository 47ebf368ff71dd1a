"""The console over the whole system, with a small demo tenant: for the browser tests and ``python -m bench console``.

The three services and the console run as processes on a broker and a database given by the caller
(the test session's, or the benchmark's own), on their own topic prefix and databases. The tenant's
history comes from the activity generator, sent through ingest's HTTP API like any client's; one
record that ingest cannot read lands on the dead-letter topic. One community is named with markup
(a ``<script>`` element, which must render as text); ingest strips markup from names, so that event
goes straight onto the activity topic, as a producer of the normalized stream could write it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from kith_cli.activity import load_history
from kith_cli.client import IngestClient, Tally
from kith_cli.stack import HOST, SERVICES, service_env
from kith_devkit.events import as_ingested
from kith_devkit.generator import GeneratorConfig
from kith_devkit.servers import free_port, stop_process
from kith_devkit.testing import eventually
from kith_shared.events import validate_event
from kith_shared.kafka import EventProducer, client_options, ensure_topics
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY, RAW
from tests.process_stack import ProcessStack, create_admin_key

#: The community whose name is markup: it must show as text.
XSS_COMMUNITY = "c-xss"
XSS_NAME = "<script>window.kithXss = 1</script>"
#: The id of the event ingest cannot read (an unknown type), which lands on the dead-letter topic.
DEAD_EVENT = "console-dead-1"


def demo_config(tenant: str, communities: int = 40, members: int = 400, days: int = 21) -> GeneratorConfig:
    """Return a small demo tenant's world ending today (smaller than ``make run``'s, to stay quick)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return GeneratorConfig(
        seed=11, communities=communities, members=members, days=days, start=today - timedelta(days=days),
        tenant=tenant, activity=0.6,
    )  # fmt: skip


@dataclass
class ConsoleStack(ProcessStack):
    """The services and the console as processes, with an admin key of the demo tenant."""

    loaded: Tally = field(default_factory=Tally)

    def stop(self, component: str) -> None:
        """Stop a component gracefully (killed if it does not exit in time)."""
        pid = self.processes.pop(component, None)
        if pid is not None:
            stop_process(pid, timeout=20.0)

    def stop_all(self) -> None:
        """Stop every component this stack started."""
        for component in list(self.processes):
            self.stop(component)


async def start_console_stack(
    *,
    bootstrap: str,
    mongo_uri: str,
    embedded_broker: bool,
    logs: Path,
    config: GeneratorConfig | None = None,
) -> ConsoleStack:
    """Start the services and the console on fresh topics and databases, load the demo tenant, wait for scoring.
    The caller stops the stack (:meth:`ConsoleStack.stop_all`), also when this fails.
    """
    suffix = uuid.uuid4().hex[:8]
    tenant = config.tenant if config else "acme"
    kafka = KafkaSettings(bootstrap_servers=bootstrap, idempotence=not embedded_broker, topic_prefix=f"c{suffix}.")
    await ensure_topics(kafka)
    auth_db = f"auth_{suffix}"
    key = await create_admin_key(mongo_uri, auth_db, tenant, "console tests")
    ports = {name: free_port() for name in (*SERVICES, "console")}
    envs = {
        service: service_env(
            service, port=ports[service], bootstrap=bootstrap, mongo_uri=mongo_uri, embedded_broker=embedded_broker,
            topic_prefix=kafka.topic_prefix, database=f"{service}_{suffix}", auth_database=auth_db,
        )
        for service in SERVICES
    }  # fmt: skip
    console_env = dict(envs["ingest"])
    console_env.update(
        {
            "CONSOLE_HOST": HOST,
            "CONSOLE_PORT": str(ports["console"]),
            "CONSOLE_ENVIRONMENT": "test",
            "CONSOLE_INGEST_URL": f"http://{HOST}:{ports['ingest']}",
            "CONSOLE_SCORING_URL": f"http://{HOST}:{ports['scoring']}",
            "CONSOLE_RECOMMEND_URL": f"http://{HOST}:{ports['recommend']}",
            "CONSOLE_SESSION_SECRET": uuid.uuid4().hex,
        }
    )
    envs["console"] = console_env
    envs["scoring"]["SCORING_SLIPPING_SWEEP_SECONDS"] = "0"
    # Micro-communities are detected when asked for (POST /v1/micro-communities:detect), not on a schedule.
    envs["recommend"]["RECOMMEND_DISCOVERY__INTERVAL_SECONDS"] = "86400"
    stack = ConsoleStack(tenant=tenant, key=key, kafka=kafka, logs=logs, ports=ports, envs=envs)
    for component in (*SERVICES, "console"):
        stack.start(component)
    for component in (*SERVICES, "console"):
        await stack.wait_ready(component, within=90.0)
    await load_tenant(stack, config or demo_config(tenant))
    return stack


async def load_tenant(stack: ConsoleStack, config: GeneratorConfig) -> None:
    """Send the tenant's history, a community named with markup, and an unreadable record; wait for scoring."""
    ingest = IngestClient(stack.url("ingest"), stack.key)
    try:
        stack.loaded = await load_history(ingest, config)
        now = datetime.now(UTC) - timedelta(minutes=5)
        joined = {"id": "console-xss-2", "source": "app://console-tests", "type": "member.joined",
                  "time": (now - timedelta(days=2)).isoformat(), "tenant": stack.tenant,
                  "data": {"community_id": XSS_COMMUNITY, "member_id": "m-xss"}}  # fmt: skip
        stack.loaded.add(await ingest.send_batch([joined]))
    finally:
        await ingest.close()
    named = {"id": "console-xss-1", "source": "app://console-tests", "type": "community.created",
             "time": (now - timedelta(days=3)).isoformat(), "tenant": stack.tenant,
             "data": {"community_id": XSS_COMMUNITY, "name": XSS_NAME, "topics": ["markup"]}}  # fmt: skip
    events = EventProducer(stack.kafka)
    await events.start()
    try:
        await events.wait_connected(30)
        await events.publish(ACTIVITY, [as_ingested(validate_event(named))])
    finally:
        await events.stop()
    producer = AIOKafkaProducer(**client_options(stack.kafka), acks="all", enable_idempotence=stack.kafka.idempotence)
    await producer.start()
    try:
        unreadable = {"id": DEAD_EVENT, "source": "app://console-tests", "type": "post.shouted",
                      "time": datetime.now(UTC).isoformat(), "tenant": stack.tenant, "data": {}}  # fmt: skip
        await producer.send_and_wait(stack.kafka.topic(RAW), json.dumps(unreadable).encode(), key=b"console")
    finally:
        await producer.stop()
    await wait_caught_up(stack)


async def wait_caught_up(stack: ConsoleStack, within: float = 300.0) -> None:
    """Wait until scoring consumed every partition to its end and knows the last community sent."""
    async with stack.client("scoring") as scoring:

        async def caught_up() -> bool:
            lag = (await scoring.get("/v1/operations/lag")).json()
            known = (await scoring.get(f"/v1/communities/{XSS_COMMUNITY}/leaderboard")).status_code == 200
            return known and bool(lag["partitions"]) and lag["total"] == 0

        await eventually(caught_up, within, "scoring caught up with the demo tenant", every=1.0)


async def wait_dead_letter(stack: ConsoleStack, within: float = 60.0) -> None:
    """Wait until ingest lists the unreadable record as a dead letter of the tenant."""
    async with stack.client("ingest") as ingest:

        async def listed() -> bool:
            items = (await ingest.get("/v1/dead-letters")).json()["items"]
            return any(item["event_id"] == DEAD_EVENT for item in items)

        await eventually(listed, within, "the dead letter listed", every=1.0)


async def detect_micro_communities(stack: ConsoleStack) -> dict[str, Any]:
    """Ask recommend for a detection of the tenant; return the largest emerging group it found.

    The group carries the name its create-community action proposes (``proposed_name``) and the
    largest group found inside a community (``inside``: that group, or None).
    """
    async with stack.client("recommend") as client:
        asked = await client.post("/v1/micro-communities:detect")
        assert asked.status_code == 202, asked.text

        async def emerging() -> dict[str, Any] | None:
            found = await client.get("/v1/micro-communities", params={"status": "emerging", "sort": "size"})
            assert found.status_code == 200, found.text
            items: list[dict[str, Any]] = found.json()["items"]
            return items[0] if items else None

        group = await eventually(emerging, 180, "an emerging micro-community detected")
        actions = (await client.get(f"/v1/micro-communities/{group['id']}/actions")).json()
        inside = (await client.get("/v1/micro-communities", params={"status": "inside", "limit": 1})).json()["items"]
    create = [a for a in actions if a["kind"] == "create_community"]
    assert create, actions
    name = create[0].get("proposed_name") or f"Group {group['id']}"
    return {**group, "proposed_name": name, "inside": inside[0] if inside else None}
