"""Thin Celery wrappers: each takes ids, calls a service, and is safe to run twice (late
acknowledgement re-delivers a task whose worker died). A database or broker blip retries them
with a growing wait; beat replaces whatever is lost for good."""

import uuid

import kombu.exceptions
import redis.exceptions
from celery import shared_task
from django.db import InterfaceError, OperationalError

from mailings.services import sending

# A database or Redis that is briefly unreachable: worth trying again soon.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, kombu.exceptions.OperationalError, redis.exceptions.ConnectionError,
                    redis.exceptions.TimeoutError)
_RETRY = {"autoretry_for": TRANSIENT_ERRORS, "retry_backoff": 1, "retry_backoff_max": 30, "retry_jitter": True,
          "max_retries": 12}


@shared_task(**_RETRY)
def mailing_start(mailing_id: int) -> None:
    try:
        sending.mailing_start(mailing_id=mailing_id)
    except sending.MailingStateError:
        pass  # already started: a re-delivered task


@shared_task(**_RETRY)
def mailing_send_chunk(mailing_id: int, lane: int | None = None, chain: str | None = None) -> int:
    """Send one chunk in a lane, then queue the lane's next: each task is short (well under
    Redis's visibility timeout) and a warm shutdown (SIGTERM) waits for at most one chunk. A
    task without a lane (queued by an older release) only wakes the lanes that lack a chain."""
    if lane is None or chain is None:
        sending.lanes_wake(mailing_id)
        return 0
    result = sending.lane_chunk_send(mailing_id=mailing_id, lane_number=lane, chain=uuid.UUID(chain))
    if result.lane_lost:
        return result.sent  # another chain has this lane
    if result.retry_in is not None:
        mailing_send_chunk.apply_async((mailing_id, lane, chain), countdown=min(result.retry_in, 60))
    elif result.claimed:
        mailing_send_chunk.delay(mailing_id, lane, chain)
    else:
        sending.mailing_finish_if_done(mailing_id=mailing_id)
    return result.sent


@shared_task
def mailings_tick() -> dict:
    return sending.mailings_tick()
