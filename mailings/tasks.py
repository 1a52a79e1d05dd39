"""Thin Celery wrappers: each takes ids, calls a service, and is safe to run twice (late
acknowledgement re-delivers a task whose worker died)."""

from celery import shared_task

from mailings.services import sending


@shared_task
def mailing_start(mailing_id: int) -> None:
    try:
        sending.mailing_start(mailing_id=mailing_id)
    except sending.MailingStateError:
        pass  # already started: a re-delivered task


@shared_task
def mailing_send_chunk(mailing_id: int) -> int:
    """Send one chunk, then queue the next: each task is short (well under Redis's visibility
    timeout) and a warm shutdown (SIGTERM) waits for at most one chunk."""
    result = sending.chunk_send(mailing_id=mailing_id)
    if result.retry_in is not None:
        mailing_send_chunk.apply_async((mailing_id,), countdown=min(result.retry_in, 60))
    elif result.claimed:
        mailing_send_chunk.delay(mailing_id)
    else:
        sending.mailing_finish_if_done(mailing_id=mailing_id)
    return result.sent


@shared_task
def mailings_tick() -> dict:
    return sending.mailings_tick()
