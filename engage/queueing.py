import logging

logger = logging.getLogger(__name__)


def queue(task, *args) -> None:
    """Publish a task; if the broker is down, log and leave it to the beat sweeper that looks
    for work still owed (DESIGN rule 6: what was stored is not lost)."""
    try:
        task.apply_async(args=args, retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})
    except Exception:
        logger.exception("could not queue %s%r; the sweeper will do it", task.name, args)
