"""send_flow(): the send cycle written once, driven by sync and async drivers alike."""

from __future__ import annotations

from collections.abc import Generator

from ._core import MetricsCore
from ._model import Batch
from ._retry import SendOutcome

__all__ = ["send_flow", "ABANDONED"]

#: The outcome recorded for a batch whose send was abandoned (exception, cancellation).
ABANDONED = SendOutcome(ok=False, error_code="Abandoned", message="send abandoned by the driver")


def send_flow(core: MetricsCore, now: float) -> Generator[Batch, tuple[SendOutcome, float], None]:
    """Yield the batches due at ``now``; receive ``(outcome, now)`` for each.

    A driver sends each yielded batch and passes back what happened::

        flow = send_flow(core, clock())
        batch = next(flow, None)
        while batch is not None:
            outcome = transport.send(batch.request)          # or: await transport.asend(...)
            try:
                batch = flow.send((outcome, clock()))
            except StopIteration:
                batch = None

    Every yielded batch is acked or failed exactly once. If the driver abandons the flow
    (``flow.close()``, an exception, task cancellation), the batch in hand is marked failed
    with :data:`ABANDONED` and re-queued without a backoff. The flow stops early when a
    failure pauses sending (throttling, 5xx): the pause is in ``core.next_deadline()``.
    """
    while (batch := core.next_batch(now)) is not None:
        try:
            outcome, now = yield batch
        except BaseException:
            core.failed(batch, now, ABANDONED)
            raise
        if outcome.ok:
            core.ack(batch, now, rejected_samples=outcome.rejected_samples)
        else:
            core.failed(batch, now, outcome)
