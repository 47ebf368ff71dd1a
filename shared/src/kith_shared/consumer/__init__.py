"""The one consumer skeleton every Kith consumer runs on: poll, chunk, apply, commit, report.

A service writes a :class:`~kith_shared.batching.Handler` (prepare records, apply items all or
none) and runs it in a :class:`Consumer`, which does the rest:

- **start and stop**: :meth:`Consumer.start` runs the loop in a task; :meth:`Consumer.stop` lets the
  chunk in flight finish, commits it, and hands the rest of the batch back uncommitted (the next
  owner reads it again);
- **reconnect**: a lost broker is retried with jittered backoff (:class:`~kith_shared.backoff.Backoff`);
- **supervise**: an unexpected exception in the loop is logged with its traceback and the loop is
  started again (``restarts`` counts it; readiness fails until a poll works again);
- **assignment**: a consumer group (``group``), or every partition of the topics assigned by hand
  (``group=None``: a broadcast reader, or one that keeps its own positions); either way the handler's
  :meth:`~kith_shared.batching.Handler.assigned` may name where to start reading each partition;
- **bounded batches**: a backlog is gathered into one batch of at most ``max_records`` records and
  ``max_bytes`` bytes, for at most ``gather_seconds``; the batch is applied in chunks (whole
  partitions packed together, see :func:`~kith_shared.batching.plan_chunks`), each committed once
  applied, sized to take about ``chunk_seconds``; once a batch has worked ``batch_seconds`` the rest
  is read again at the next poll, so no batch outlives the group's poll interval;
- **per-record isolation**: see :class:`~kith_shared.batching.Settler` (bisection, bounded tries,
  dead letters with reason and origin); a dependency that is down pauses the consumer instead;
- **observability**: ``kith_consumer_lag{service,topic,partition}`` from the broker's end of each
  partition (the larger of the fetch high-water mark and a periodic ``end_offsets``, since the
  embedded broker answers the latter up to one record batch short), ``kith_batch_size``,
  ``kith_events_in_total``; :meth:`Consumer.check` (a readiness check) fails while the consumer is
  not connected, paused on a dependency, restarting after a crash, or stuck: records waiting and
  no progress for ``stuck_seconds``;
- **context**: each chunk is applied in a span that continues its first record's trace and links to
  every record's (see :mod:`kith_shared.tracing`), and log lines written while a record is applied
  name its event and tenant (the handler's :meth:`~kith_shared.batching.Handler.identify`; a chunk's
  lines name the tenant its records share).

Offsets are committed only after a chunk's effects are durable; a commit that fails (the group
rebalanced meanwhile) is logged and harmless to a handler that makes replays harmless, as every
Kith handler does.

The modules, by job: :mod:`.options` (what a service configures), :mod:`.polling` (the broker's
side: making and starting the Kafka consumer, gathering a batch, committing), :mod:`.loop` (the
supervised loop, its partitions and its readiness).
"""

from kith_shared.consumer.loop import Consumer
from kith_shared.consumer.options import ConsumerOptions

__all__ = ["Consumer", "ConsumerOptions"]
