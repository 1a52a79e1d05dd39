"""Mail sending benchmark: Muster's workers against a raw anymail loop, both posting to the
local mock ESP (tests/support/mock_esp.py), in both ESP shapes.

Run by `make bench`, or: .venv/bin/python bench/mail.py [--sizes 10000 100000] [--million]

For each mode (batch: Mailgun's API with merge data; single: Postmark's, one message per
call) and each size:
1. fills the PostgreSQL database `muster_bench_mail` with N opted-in, subscribed supporters
   (generate_series, a few seconds), and creates a mailing to all of them;
2. starts 2 worker processes (`celery -A config worker --concurrency 1`, twice) on Redis db 13,
   starts the mailing (the snapshot is timed on its own) and times until the mock ESP has
   accepted N messages, sampling the workers' memory (RSS of every process of each worker)
   every 0.2 s;
3. runs the raw reference: the same N messages (same body, a per-recipient List-Unsubscribe
   and delivery id, merge data in batch mode) built with anymail and posted to the same mock
   ESP by a plain loop in 2 processes, with no database, app or queue;
4. prints messages per second for both, the ratio, and peak worker memory.
Then it times the snapshot of a 1,000,000-supporter segment (one INSERT … SELECT through the
recipient filter; some of them opted out, left the list or are suppressed; written as Muster
writes them, each with its suppression hash, then as another program writes them, without,
so that the snapshot first fills the hashes) against, in the same run, the same INSERT …
SELECT of every supporter's id with no filter, printing wall time and the PostgreSQL
backend's CPU time for each (`--snapshot-only` skips the sending runs,
`--explain` adds the snapshot's EXPLAIN (ANALYZE, BUFFERS, WAL)).

The machine's 2 cores are shared by the workers, the mock ESP, PostgreSQL and Redis (and, on
a shared machine, by anyone else's work). Results are also written as JSON to bench/results/.
"""

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from bench.common import ROOT, database_drop, database_recreate, manage, proc_cpu_seconds, results_write  # noqa: E402

DB_NAME = "muster_bench_mail"
PG = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/13"
SECRET = "bench-secret-key-" + "x" * 40
MOCK_PORT = 8931
QUEUE = f"muster-bench-mail-{secrets.token_hex(4)}"

MODES = {
    "batch": {
        "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend",
        "ANYMAIL_MAILGUN_API_KEY": "bench",
        "ANYMAIL_MAILGUN_API_URL": f"http://127.0.0.1:{MOCK_PORT}/v3",
        "ANYMAIL_MAILGUN_SENDER_DOMAIN": "mail.muster.test",
        "MAILINGS_CHUNK_SIZE": "1000",
    },
    "single": {
        "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
        "ANYMAIL_POSTMARK_SERVER_TOKEN": "bench",
        "ANYMAIL_POSTMARK_API_URL": f"http://127.0.0.1:{MOCK_PORT}/",
        "MAILINGS_CHUNK_SIZE": "200",
    },
}
BASE_ENV = {
    "SECRET_KEY": SECRET,
    "DEBUG": "False",
    "SITE_URL": "https://act.example.org",
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "REDIS_URL": REDIS,
    "CELERY_BROKER_URL": REDIS,
    "LOG_LEVEL": "WARNING",
    "MAILINGS_SEND_LANES": "4",
    "MAILINGS_RATE_LIMIT_KEY_PREFIX": QUEUE,
    "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
}
BODY = (
    "Hello {{ first_name|default:\"friend\" }},\n\n"
    "Rally at **Old Palace Yard** on Friday at noon: bring your petition, your friends and a placard.\n\n"
    + "We will hand in the petition together and tell Parliament to keep our NHS public. " * 6
    + "\n\n[See the petition](https://act.example.org/p/scrap-the-icp-contract/)\n"
)


def database_use(name: str) -> None:
    """Work in this scratch database (two runs at once need two)."""
    global DB_NAME
    DB_NAME = name
    BASE_ENV["DATABASE_URL"] = f"{PG}/{name}"


def mock(path: str, payload: dict | None = None) -> dict:
    url = f"http://127.0.0.1:{MOCK_PORT}{path}"
    data = None if payload is None else json.dumps(payload).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST" if data else "GET"), timeout=30) as r:
        return json.loads(r.read())


def django_setup(mode: str) -> None:
    os.environ.update(BASE_ENV)
    os.environ.update(MODES[mode])
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    import config.celery  # noqa: F401  (tasks publish through the project's app and broker)


def recreate_database() -> None:
    database_recreate(PG, DB_NAME)
    manage({**os.environ, **BASE_ENV}, "migrate", "--noinput", "-v", "0")


def fill(n: int, *, excluded: bool = False, hashed: bool = True) -> float:
    """n supporters, each opted in to the host and subscribed to the list. With `excluded`,
    the recipient filter has people to drop: one in 100 opted out later, one in 200 left the
    list, one in 1,000 suppressed. `hashed`: the supporters are written as Muster writes them,
    each with its suppression hash (engage.suppression.email_digest, computed here and inserted
    with the rows, as the import does); otherwise as another program writes them, without.
    Returns the seconds the supporters' INSERT took, the hashing included."""
    from django.db import connection

    from engage.models import MailingList, Organisation
    from engage.suppression import email_digest

    host, _ = Organisation.objects.get_or_create(slug="hct", defaults={"name": "Health Campaigns Together", "kind": "host"})
    news, _ = MailingList.objects.get_or_create(slug="news", defaults={"name": "News", "organisation": host})
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE mailings_delivery, engage_subscription, engage_consent, engage_supporter CASCADE")
        started = time.monotonic()
        # 100,000 rows a statement: one INSERT … SELECT FROM unnest(…) WITH ORDINALITY, the
        # ordinality numbering the addresses b<g>@example.org whose hashes the array holds.
        for first in range(1, n + 1, 100_000):
            last = min(first + 99_999, n)
            digests = [email_digest(f"b{g}@example.org") for g in range(first, last + 1)] if hashed else [None] * (last - first + 1)
            cursor.execute(
                "INSERT INTO engage_supporter (email, first_name, last_name, country, postcode, link_nonce, email_hash, "
                "created_at, updated_at) "
                "SELECT 'b' || g || '@example.org', 'Name' || g, 'Bench', 'GB', 'S70 2AB', md5(g::text), h, now(), now() "
                "FROM (SELECT h, i + %s - 1 AS g FROM unnest(%s::bytea[]) WITH ORDINALITY AS t(h, i)) AS rows",
                [first, digests],
            )
        supporters_seconds = time.monotonic() - started
        cursor.execute(
            "INSERT INTO engage_consent (supporter_id, organisation_id, given, wording, source, created_at) "
            "SELECT id, %s, true, 'Keep me updated', 'bench', now() FROM engage_supporter", [host.pk],
        )
        cursor.execute(
            "INSERT INTO engage_subscription (supporter_id, mailing_list_id, status, source, confirm_nonce, created_at, subscribed_at) "
            "SELECT id, %s, 'subscribed', 'bench', md5('s' || id), now(), now() FROM engage_supporter", [news.pk],
        )
        if excluded:
            cursor.execute(
                "INSERT INTO engage_consent (supporter_id, organisation_id, given, wording, source, created_at) "
                "SELECT id, %s, false, 'Stop', 'bench', now() + interval '1 second' FROM engage_supporter WHERE id %% 100 = 0",
                [host.pk],
            )
            cursor.execute("UPDATE engage_subscription SET status = 'unsubscribed' WHERE supporter_id %% %s = 1", [200])
    if excluded:
        from engage.models import Suppression
        from engage.suppression import email_hash

        Suppression.objects.all().delete()
        Suppression.objects.bulk_create(
            Suppression(email_hash=email_hash(f"b{i}@example.org"), reason="hard_bounce") for i in range(7, n + 1, 1000)
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return supporters_seconds


def make_mailing(name: str):
    from engage.models import MailingList, Organisation
    from mailings.models import Mailing, Message, Segment, Sender

    host = Organisation.objects.get(slug="hct")
    sender, _ = Sender.objects.get_or_create(
        organisation=host, defaults={"name": host.name, "bulk_email": "news@mail.muster.test", "transactional_email": "hello@muster.test"}
    )
    message = Message.objects.create(name=name, sender=sender, subject="Rally on Friday, {{ first_name|default:\"friend\" }}", body=BODY)
    segment = Segment.objects.create(name=name, definition={"condition": "subscribed_to_list", "list": "news"})
    return Mailing.objects.create(name=name, message=message, segment=segment, mailing_list=MailingList.objects.get(slug="news"))


def rss_tree_kb(pid: int) -> int:
    """Resident memory of a process and its children, in KiB."""
    total = 0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for child in children:
            total += rss_tree_kb(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def run_muster(mode: str, n: int, workdir: str):
    """(figures, the mailing) for one send of n recipients by 2 workers."""
    from mailings.services.sending import mailing_start
    from tests.support.workers import Worker

    fill(n)
    mailing = make_mailing(f"{mode}-{n}")
    env = {**BASE_ENV, **MODES[mode], "MUSTER_VAR_DIR": workdir}
    workers = [Worker(env=env, queue=QUEUE, concurrency=1, workdir=workdir, name=f"bench{i}") for i in range(2)]
    try:
        for worker in workers:
            worker.start()
        time.sleep(6)  # both workers up and waiting
        mock("/_mock/reset", {})
        peak = [0, 0]
        started = time.monotonic()
        mailing_start(mailing_id=mailing.pk)
        snapshot_done = time.monotonic()
        deadline = started + max(120, n / 100)
        while time.monotonic() < deadline:
            for i, worker in enumerate(workers):
                peak[i] = max(peak[i], rss_tree_kb(worker.pid))
            if mock("/_mock/stats")["messages"] >= n:
                break
            time.sleep(0.2)
        finished = time.monotonic()
        stats = mock("/_mock/stats")
    finally:
        for worker in workers:
            worker.stop()
    mailing.refresh_from_db()
    # Until the mock accepted the last message (its clock is this machine's monotonic clock),
    # not until this loop next looked.
    sending_seconds = (stats["last_at"] or finished) - snapshot_done
    return {
        "messages": stats["messages"], "duplicates": stats["duplicates"], "calls": stats["calls"],
        "bytes_per_message": round(stats["bytes"] / max(stats["messages"], 1)),
        "snapshot_seconds": round(snapshot_done - started, 3), "sending_seconds": round(sending_seconds, 3),
        "per_second": round(stats["messages"] / sending_seconds, 1),
        "peak_worker_rss_mib": [round(kb / 1024, 1) for kb in peak], "mailing_status": mailing.status,
    }, mailing


def raw_messages(mailing) -> dict:
    """What the raw reference posts: the mailing's own parts, rendered once by Muster here (its
    merge placeholders, the ESP's merge syntax), its sender, headers and metadata, and the
    lengths of its links' tokens, so that the raw loop posts messages of the same content and
    size as the workers do (the mock counts the bytes of both)."""
    from engage import links
    from engage.models import Supporter
    from engage.tokens import new_nonce
    from mailings import rendering
    from mailings.bulk_messages import list_id_header, mailing_compiled
    from mailings.selectors.recipients import recipients_reasons

    compiled = mailing_compiled(mailing)
    esp_template = rendering.to_esp_template(compiled, "%recipient.{}%")  # Mailgun's merge syntax
    sample = Supporter(email="sample@example.org", link_nonce=new_nonce())
    return {
        "compiled": [compiled.subject, compiled.text, compiled.html],
        "esp": [esp_template.subject, esp_template.text, esp_template.html],
        "slots": [slot.name for slot in compiled.slots],
        "from": mailing.message.sender.bulk_from,
        "list_id": list_id_header(mailing),
        "mailing_id": str(mailing.pk),
        "site": BASE_ENV["SITE_URL"],
        "preferences_token_length": len(links.preferences_token(sample)),
        "unsubscribe_token_length": len(links.unsubscribe_token(sample, mailing.mailing_list)),
        # The footer's reason, the same for every recipient of a list mailing.
        "reason": recipients_reasons(organisation=mailing.organisation, mailing_list=mailing.mailing_list,
                                     supporter_ids=[0])[0],
    }


def _raw_values(template: dict, i: int) -> tuple[dict, str]:
    """Recipient i's merge values (random tokens as long as Muster's) and one-click URL."""
    unsubscribe = secrets.token_urlsafe(template["unsubscribe_token_length"])[: template["unsubscribe_token_length"]]
    preferences = secrets.token_urlsafe(template["preferences_token_length"])[: template["preferences_token_length"]]
    site = template["site"]
    values = {"first_name": f"Name{i}", "last_name": "Bench", "preferences_url": f"{site}/preferences/{preferences}/",
              "unsubscribe_url": f"{site}/unsubscribe/{unsubscribe}/", "reason": template["reason"]}
    return values, f"<{site}/unsubscribe/{unsubscribe}/one-click>"


def _raw_part(mode: str, start: int, count: int, template: dict, ready, results) -> None:
    """The reference, in one process: anymail builds and posts the messages; no database, app
    or queue. Waits at `ready` once set up, so the timing leaves out process start-up."""
    import html
    import re

    django_setup(mode)
    from django.core.mail import EmailMultiAlternatives, get_connection

    from mailings.esp import connection_open

    connection = get_connection()
    connection_open(connection)  # the workers' HTTP session settings (the environment read once)
    slots = template["slots"]
    placeholder = re.compile(r"zqmerge(\d+)zq")
    ready.wait()
    sent = 0
    if mode == "batch":
        subject, text, html_part = template["esp"]
        for first in range(start, start + count, 1000):
            ids = range(first, min(first + 1000, start + count))
            to = [f"b{i}@example.org" for i in ids]
            message = EmailMultiAlternatives(subject, text, template["from"], to, connection=connection,
                                             headers={"List-Id": template["list_id"]})
            message.attach_alternative(html_part, "text/html")
            message.metadata = {"mailing_id": template["mailing_id"]}
            message.tags = ["mailing"]
            message.merge_data, message.merge_metadata, message.merge_headers = {}, {}, {}
            for address, i in zip(to, ids, strict=True):
                values, one_click = _raw_values(template, i)
                data = {}
                for index, name in enumerate(slots):
                    data[f"t{index}"] = values[name]
                    data[f"h{index}"] = html.escape(values[name])
                message.merge_data[address] = data
                message.merge_metadata[address] = {"delivery_id": str(i)}
                message.merge_headers[address] = {"List-Unsubscribe": one_click, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
            message.send()
            sent += len(to)
    else:
        subject, text, html_part = template["compiled"]
        for i in range(start, start + count):
            values, one_click = _raw_values(template, i)
            filled = [values[name] for name in slots]
            escaped = [html.escape(value) for value in filled]
            message = EmailMultiAlternatives(
                placeholder.sub(lambda m, filled=filled: filled[int(m.group(1))], subject),
                placeholder.sub(lambda m, filled=filled: filled[int(m.group(1))], text),
                template["from"], [f"b{i}@example.org"], connection=connection,
                headers={"List-Id": template["list_id"], "List-Unsubscribe": one_click,
                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            )
            message.attach_alternative(placeholder.sub(lambda m, escaped=escaped: escaped[int(m.group(1))], html_part), "text/html")
            message.metadata = {"mailing_id": template["mailing_id"], "delivery_id": str(i)}
            message.tags = ["mailing"]
            message.send()
            sent += 1
    connection.close()
    results.put(sent)


def run_raw(mode: str, n: int, template: dict) -> dict:
    """The raw reference in 2 processes (as many as the workers), timed from when both are set
    up until both have posted everything."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(3), context.Queue()
    half = n // 2
    processes = [
        context.Process(target=_raw_part, args=(mode, first, count, template, ready, results))
        for first, count in ((1, half), (1 + half, n - half))
    ]
    for process in processes:
        process.start()
    mock("/_mock/reset", {})
    ready.wait(timeout=120)
    started = time.monotonic()
    sent = sum(results.get(timeout=max(600, n / 20)) for _ in processes)
    seconds = time.monotonic() - started
    for process in processes:
        process.join()
    stats = mock("/_mock/stats")
    return {"messages": stats["messages"], "sent": sent, "seconds": round(seconds, 3), "per_second": round(n / seconds, 1),
            "bytes_per_message": round(stats["bytes"] / max(stats["messages"], 1))}


def _timed(statement, *, atomic: bool = True) -> tuple[float, float]:
    """(wall seconds, backend CPU seconds) of statement(cursor), in a transaction committed at
    the end (`atomic`; otherwise in the transactions it makes itself), after a CHECKPOINT so
    that each run starts with the same WAL state. The backend's CPU time too (it runs on this
    machine), because on shared cores a statement's wall time includes waiting for a core."""
    from contextlib import nullcontext

    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE mailings_delivery CASCADE")
        cursor.execute("CHECKPOINT")
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
        cpu = proc_cpu_seconds(pid)
        started = time.monotonic()
        with transaction.atomic() if atomic else nullcontext():
            statement(cursor)
        return time.monotonic() - started, proc_cpu_seconds(pid) - cpu


def snapshot_timing(n: int, *, rounds: int = 2, explain: bool = False) -> dict:
    """The snapshot of an n-supporter segment (the whole recipient filter) against, in the same
    run, the reference: the same INSERT … SELECT of every supporter's id into the same table,
    with no filter. First with the supporters written as Muster writes them (each hash stored),
    alternated with the reference `rounds` times, the best of each reported; then once with them
    written by another program (no hash): the start of a mailing as a whole (mailing_start),
    whose fill of the missing hashes, before and in its transaction, is part of the snapshot's
    time (and timed on its own too)."""
    from unittest.mock import patch

    from django.db import connection, transaction

    from mailings.models import Delivery
    from mailings.services import sending as sending_services
    from mailings.sql import SNAPSHOT_WORK_MEM

    hashed_write = fill(n, excluded=True)
    mailing = make_mailing(f"snapshot-{n}")
    reference_sql = (
        "INSERT INTO mailings_delivery (mailing_id, supporter_id, status, attempts, esp_message_id, last_error, outcome) "
        "SELECT %s, id, 'queued', 0, '', '', '' FROM engage_supporter"
    )
    ours, reference, deliveries = [], [], 0
    for _ in range(rounds):
        reference.append(_timed(lambda cursor: cursor.execute(reference_sql, [mailing.pk])))
        ours.append(_timed(lambda cursor: sending_services.deliveries_snapshot(mailing=mailing)))
        deliveries = Delivery.objects.filter(mailing=mailing).count()
    if explain:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("TRUNCATE mailings_delivery CASCADE")
            cursor.execute(f"SET LOCAL work_mem = '{SNAPSHOT_WORK_MEM}'")
            sql, params = sending_services.snapshot_statement(mailing=mailing)
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, WAL) " + sql, params)
            print("\n".join(row[0] for row in cursor.fetchall()), flush=True)
            transaction.set_rollback(True)

    unhashed_write = fill(n, excluded=True, hashed=False)
    fill_seconds = 0.0
    hashes_fill = sending_services.supporters_email_hash_fill

    def hashes_fill_timed(**kwargs):
        nonlocal fill_seconds
        started = time.monotonic()
        try:
            return hashes_fill(**kwargs)
        finally:
            fill_seconds += time.monotonic() - started

    unhashed_mailing = make_mailing(f"snapshot-{n}-unhashed")
    with (patch.object(sending_services, "supporters_email_hash_fill", hashes_fill_timed),
          patch.object(sending_services, "lanes_wake")):  # no workers to wake
        unhashed = _timed(lambda cursor: sending_services.mailing_start(mailing_id=unhashed_mailing.pk), atomic=False)
    unhashed_deliveries = Delivery.objects.filter(mailing=unhashed_mailing).count()
    best, best_reference = min(ours), min(reference)
    return {
        "supporters": n, "deliveries": deliveries,
        "seconds": round(best[0], 2), "backend_cpu_seconds": round(best[1], 2),
        "reference_seconds": round(best_reference[0], 2), "reference_backend_cpu_seconds": round(best_reference[1], 2),
        "ratio": round(best[0] / best_reference[0], 2),
        "unhashed_seconds": round(unhashed[0], 2), "unhashed_backend_cpu_seconds": round(unhashed[1], 2),
        "unhashed_fill_seconds": round(fill_seconds, 2), "unhashed_deliveries": unhashed_deliveries,
        "supporters_insert_seconds": round(hashed_write, 2), "unhashed_supporters_insert_seconds": round(unhashed_write, 2),
        "all_runs": {"ours": [[round(w, 2), round(c, 2)] for w, c in ours], "reference": [[round(w, 2), round(c, 2)] for w, c in reference]},
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Mail sending benchmark")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also send 1,000,000")
    parser.add_argument("--modes", nargs="+", default=["batch", "single"], choices=list(MODES))
    parser.add_argument("--snapshot", type=int, default=1_000_000, help="supporters in the snapshot timing (0: skip)")
    parser.add_argument("--snapshot-only", action="store_true", help="time only the snapshot, no sending")
    parser.add_argument("--explain", action="store_true", help="also print EXPLAIN (ANALYZE, BUFFERS) of the snapshot")
    parser.add_argument("--database", default=DB_NAME, help=f"scratch database, dropped at the end (default {DB_NAME})")
    return parser.parse_args()


def mock_esp_start() -> subprocess.Popen:
    """The mock ESP in a process of its own, counting copies only (it keeps no records)."""
    process = subprocess.Popen(
        [sys.executable, "tests/support/mock_esp.py", "--port", str(MOCK_PORT), "--no-records"], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    return process


def sending_run(mode: str, n: int, workdir: str) -> dict:
    """Muster's workers, then the raw reference, sending n messages in this mode; printed."""
    load = os.getloadavg()[0]
    ours, mailing = run_muster(mode, n, workdir)
    raw = run_raw(mode, n, raw_messages(mailing))
    ratio = ours["per_second"] / raw["per_second"] if raw["per_second"] else 0
    run = {"mode": mode, "recipients": n, "muster": ours, "raw": raw, "ratio": round(ratio, 3),
           "load_average_before": round(load, 2), "load_average_after": round(os.getloadavg()[0], 2)}
    print(f"{mode:6} {n:>9,}: muster {ours['per_second']:>8,.0f}/s ({ours['messages']:,} msgs, "
          f"{ours['duplicates']} dup, {ours['bytes_per_message']} B/msg, snapshot {ours['snapshot_seconds']}s, "
          f"peak worker RSS {ours['peak_worker_rss_mib']} MiB) | raw {raw['per_second']:>8,.0f}/s "
          f"({raw['messages']:,} msgs, {raw['bytes_per_message']} B/msg) | ratio {ratio:.2f} | "
          f"load {load:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
    return run


def snapshot_run(args) -> dict:
    """The snapshot timing against its reference; printed."""
    django_setup(args.modes[0])
    snap = snapshot_timing(args.snapshot, explain=args.explain)
    print(f"snapshot of a {snap['supporters']:,}-supporter segment ({snap['deliveries']:,} deliveries), "
          f"supporters written by Muster (hashes stored): "
          f"{snap['seconds']} s (backend CPU {snap['backend_cpu_seconds']} s) | reference INSERT … SELECT of "
          f"every id: {snap['reference_seconds']} s (CPU {snap['reference_backend_cpu_seconds']} s) | "
          f"ratio {snap['ratio']} | load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"  written by another program (no hashes; the mailing's start fills them first): "
          f"{snap['unhashed_seconds']} s (CPU {snap['unhashed_backend_cpu_seconds']} s), of which the fill "
          f"{snap['unhashed_fill_seconds']} s ({snap['unhashed_deliveries']:,} deliveries)", flush=True)
    print(f"  the supporters' INSERT: {snap['supporters_insert_seconds']} s with their hashes (computed in "
          f"Python), {snap['unhashed_supporters_insert_seconds']} s without", flush=True)
    return snap


def main() -> int:
    args = parse_args()
    sizes = [] if args.snapshot_only else args.sizes + ([1_000_000] if args.million else [])
    database_use(args.database)
    recreate_database()
    mock_process = mock_esp_start()
    results = {"machine": f"{platform.node()} {os.cpu_count()} cores", "when": dt.datetime.now(dt.UTC).isoformat(), "runs": []}
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for mode in args.modes:
                django_setup(mode)
                results["runs"] += [sending_run(mode, n, workdir) for n in sizes]
            if args.snapshot:
                results["snapshot"] = snapshot_run(args)
    finally:
        mock_process.terminate()
        mock_process.wait(timeout=10)
        from django.db import connection

        connection.close()
        database_drop(PG, DB_NAME)
    results_write(f"mail-{dt.datetime.now():%Y%m%d-%H%M%S}", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
