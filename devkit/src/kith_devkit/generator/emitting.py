"""Turn simulated rows into events: ``generate`` (the history) and ``live`` (the days after it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import cast

from kith_devkit.generator.activity import Row
from kith_devkit.generator.plan import draw_plan
from kith_devkit.generator.simulation import Simulation
from kith_devkit.generator.world import GeneratorConfig
from kith_shared.events import EVENT_CLASSES, Event


class _Emitter:
    """Numbers the rows as events of one config; ids go on counting across ``generate`` and ``live``."""

    def __init__(self, config: GeneratorConfig, offset: timedelta = timedelta(0)) -> None:
        self.config = config
        self.origin = config.start + offset
        self.prefix = f"g{config.seed}"
        self.count = 0

    def skip(self, rows: list[Row]) -> None:
        """Count rows without emitting them (the history before a live stream)."""
        self.count += len(rows)

    def __call__(self, row: Row) -> Event:
        at, _, event_type, payload = row
        envelope = EVENT_CLASSES[event_type]
        self.count += 1
        event = envelope(
            id=f"{self.prefix}-{self.count:08d}",
            type=event_type,
            source=self.config.source,
            time=self.origin + timedelta(milliseconds=at),
            tenant=self.config.tenant,
            data=envelope.data_model()(**payload),
        )
        return cast(Event, event)


def generate(config: GeneratorConfig | None = None) -> Iterator[Event]:
    """Yield the history's raw events in time order: the same config always gives the same events."""
    config = config or GeneratorConfig()
    simulation = Simulation(draw_plan(config))
    emit = _Emitter(config)
    for number in range(config.days):
        for row in simulation.day(number):
            yield emit(row)


def live(config: GeneratorConfig | None = None, start: datetime | None = None) -> Iterator[Event]:
    """Yield events after the history, forever, continuing the same world and the same ids.

    The first live day follows the history's last day; with ``start``, times are shifted so that
    the live stream begins at ``start`` instead.
    """
    config = config or GeneratorConfig()
    history_end = config.start + timedelta(days=config.days)
    if start is not None and start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    simulation = Simulation(draw_plan(config))
    emit = _Emitter(config, (start - history_end) if start is not None else timedelta(0))
    for number in range(config.days):
        emit.skip(simulation.day(number))
    number = config.days
    while True:
        for row in simulation.day(number):
            yield emit(row)
        number += 1
