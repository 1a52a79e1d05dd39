"""The fault-injection tools do what they claim, against the real things: BlipProxy cuts real
PostgreSQL and Redis connections and lets them back; the mock ESP's faults, met through
anymail's own backends or plain requests, happen at their rates, replay by seed, and leave
the ESP's records as a real ESP's would be."""

import threading
import time

import psycopg
import pytest
import redis
import requests
from anymail.exceptions import AnymailRequestsAPIError
from django.core.mail import EmailMessage, get_connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.faults import BlipProxy
from tests.support.mock_esp import FAULT_KINDS, MockEsp
from tests.support.workers import wait_until

# --- BlipProxy ---


@pytest.mark.postgres
def test_it_cuts_a_postgres_connection_refuses_new_ones_and_recovers():
    with BlipProxy("127.0.0.1", 5432) as proxy:
        url = proxy.url_for_postgres("postgres", "postgres")
        with psycopg.connect(url, autocommit=True) as before:
            assert before.execute("SELECT 1").fetchone() == (1,)
            assert proxy.blip(0.5) == 1
            with pytest.raises(psycopg.OperationalError):
                before.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        assert proxy.wait_up(timeout=2)
        with psycopg.connect(url, autocommit=True) as after:
            assert after.execute("SELECT 1").fetchone() == (1,)
        assert proxy.stats() == {
            "connections_forwarded": 2, "connections_cut": 1, "connections_refused": 1,
            "open_connections": proxy.open_connections, "blips": 1,
        }


@pytest.mark.postgres
def test_it_carries_postgres_traffic_unchanged():
    with BlipProxy("127.0.0.1", 5432) as proxy, psycopg.connect(proxy.url_for_postgres("postgres"), autocommit=True) as db:
        big = "x" * 500_000  # many TCP segments each way
        assert db.execute("SELECT %s::text", [big]).fetchone() == (big,)
        assert db.execute("SELECT count(*) FROM generate_series(1, 1000)").fetchone() == (1000,)


@pytest.mark.redis
def test_it_cuts_a_redis_connection_refuses_new_ones_and_recovers():
    with BlipProxy("127.0.0.1", 6379) as proxy:
        # No retries of its own, so the client meets the blip rather than waiting it out.
        client = redis.Redis.from_url(proxy.url_for_redis(14), retry=Retry(NoBackoff(), 0), socket_timeout=2)
        assert client.ping()
        assert proxy.blip(0.5) == 1
        with pytest.raises(redis.ConnectionError):
            client.ping()  # the cut connection
        with pytest.raises(redis.ConnectionError):
            client.ping()  # a new one, closed at once
        assert proxy.wait_up(timeout=2)
        assert client.ping()
        client.close()
        stats = proxy.stats()
        assert (stats["connections_cut"], stats["connections_forwarded"]) == (1, 2)
        assert stats["connections_refused"] >= 1


@pytest.mark.redis
def test_it_stays_down_until_up():
    with BlipProxy("127.0.0.1", 6379) as proxy:
        client = redis.Redis.from_url(proxy.url_for_redis(14), retry=Retry(NoBackoff(), 0), socket_timeout=2)
        proxy.down()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        assert proxy.blipping
        proxy.up()
        assert client.ping()
        client.close()


# --- the mock ESP ---


def postmark_post(esp, session, delivery_id, *, stream=None, timeout=5):
    payload = {"From": "a@muster.test", "To": f"p{delivery_id}@example.org", "Subject": "Hi", "TextBody": "Hi",
               "Metadata": {"delivery_id": str(delivery_id)}}
    if stream:
        payload["MessageStream"] = stream
    return session.post(f"{esp.url}/email", json=payload, timeout=timeout)


def postmark_search(esp, delivery_id, stream=None):
    params = {"count": 1, "offset": 0, "metadata_delivery_id": str(delivery_id)}
    if stream:
        params["messagestream"] = stream
    return requests.get(f"{esp.url}/messages/outbound", params=params, timeout=5).json()["Messages"]


def mailgun_search(esp, delivery_id):
    params = {"event": "accepted", "user-variables": f'{{"delivery_id": "{delivery_id}"}}', "limit": 1}
    return requests.get(f"{esp.url}/v3/mail.muster.test/events", params=params, timeout=5).json()["items"]


def statuses(seed, calls=300, **faults):
    with MockEsp(seed=seed, **faults) as esp, requests.Session() as session:
        return [postmark_post(esp, session, i).status_code for i in range(calls)], esp.stats()


def test_it_refuses_sends_at_the_configured_rates_and_replays_them_by_seed():
    sequence, stats = statuses(7, error_rate_500=0.2, error_rate_429=0.1)
    assert 40 <= sequence.count(500) <= 80 and 15 <= sequence.count(429) <= 45  # 60 and 30 expected
    assert set(sequence) == {200, 500, 429}
    assert stats["faults"]["error_500"] == sequence.count(500) and stats["faults"]["error_429"] == sequence.count(429)
    assert stats["send_calls"] == 300
    assert stats["messages"] == stats["calls"] == sequence.count(200)  # a refused call accepts nothing
    assert statuses(7, error_rate_500=0.2, error_rate_429=0.1)[0] == sequence
    assert statuses(8, error_rate_500=0.2, error_rate_429=0.1)[0] != sequence


def test_concurrent_sends_meet_the_same_faults_as_one_after_another():
    """Each draw is taken under the lock: however the calls interleave, 300 calls meet the
    faults of the seed's first 300 draws."""
    sequence, _ = statuses(3, error_rate_500=0.3)
    with MockEsp(seed=3, error_rate_500=0.3) as esp:
        answers = []

        def send(first):
            with requests.Session() as session:
                answers.extend(postmark_post(esp, session, i).status_code for i in range(first, first + 30))

        threads = [threading.Thread(target=send, args=(n * 30,)) for n in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(answers) == sorted(sequence)


def test_its_errors_are_the_esps_own_and_reach_anymail_as_api_errors():
    with MockEsp(error_rate_429=1, retry_after=7) as esp, requests.Session() as session:
        answer = postmark_post(esp, session, 1)
        assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
        assert set(answer.json()) == {"ErrorCode", "Message"}
        esp.configure(error_rate_429=0, error_rate_500=1)
        answer = session.post(f"{esp.url}/v3/mail.muster.test/messages", data={"to": "a@example.org"}, timeout=5)
        assert answer.status_code == 500 and set(answer.json()) == {"message"}
        mailgun = get_connection("anymail.backends.mailgun.EmailBackend", api_key="k", api_url=f"{esp.url}/v3",
                                 sender_domain="mail.muster.test")
        for status, rate in ((500, "error_rate_500"), (429, "error_rate_429")):
            esp.configure(**{"error_rate_500": 0, "error_rate_429": 0, rate: 1})
            message = EmailMessage("Hi", "Hi", "a@mail.muster.test", ["p@example.org"], connection=mailgun)
            with pytest.raises(AnymailRequestsAPIError) as refused:
                message.send()
            assert refused.value.status_code == status
        assert esp.stats()["messages"] == 0 and esp.records_snapshot() == []


def test_a_hung_send_times_the_client_out_although_the_esp_accepted_it():
    with MockEsp(hang_rate=1, hang_seconds=5) as esp, requests.Session() as session:
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            postmark_post(esp, session, 41, timeout=0.5)
        assert time.monotonic() - started < 2
        assert esp.lookup("41") is not None and esp.copies_snapshot() == {"41": 1}
        assert esp.stats()["faults"]["hang"] == 1


def test_a_dropped_connection_leaves_the_message_accepted():
    with MockEsp(drop_connection_rate=1) as esp, requests.Session() as session:
        with pytest.raises(requests.ConnectionError):
            postmark_post(esp, session, 42)
        assert esp.copies_snapshot() == {"42": 1}
        assert esp.stats()["faults"]["drop_connection"] == 1


def test_it_answers_after_the_latency_and_its_jitter():
    with MockEsp(delay=0.05, latency_jitter=0.1) as esp, requests.Session() as session:
        waits = []
        for i in range(5):
            started = time.monotonic()
            assert postmark_post(esp, session, i).status_code == 200
            waits.append(time.monotonic() - started)
        assert all(0.05 <= wait < 0.3 for wait in waits) and max(waits) - min(waits) > 0.01, waits
        assert esp.delay == 0.05 and esp.stats()["faults"]["latency"] == 5


def test_its_search_hides_a_message_for_the_lag_then_shows_it():
    with MockEsp(search_lag=0.3) as esp, requests.Session() as session:
        postmark_post(esp, session, 51)
        mailgun = get_connection("anymail.backends.mailgun.EmailBackend", api_key="k", api_url=f"{esp.url}/v3",
                                 sender_domain="mail.muster.test")
        message = EmailMessage("Hi", "Hi", "a@mail.muster.test", ["p@example.org"], connection=mailgun)
        message.metadata = {"delivery_id": "52"}
        message.send()
        assert postmark_search(esp, 51) == [] and mailgun_search(esp, 52) == []
        assert esp.lookup("51") and esp.lookup("52")  # the ESP has them; its search does not show them yet
        assert esp.stats()["faults"]["search_hidden"] == 2
        assert wait_until(lambda: postmark_search(esp, 51) and mailgun_search(esp, 52), timeout=2)
        assert postmark_search(esp, 51)[0]["MessageID"] == esp.lookup("51")
        assert mailgun_search(esp, 52)[0]["message"]["headers"]["message-id"] == esp.lookup("52").strip("<>")


def test_its_postmark_search_looks_in_one_message_stream():
    with MockEsp() as esp:
        broadcasts = get_connection("anymail.backends.postmark.EmailBackend", server_token="t",
                                    api_url=f"{esp.url}/", message_stream="broadcasts")
        message = EmailMessage("Hi", "Hi", "a@muster.test", ["p@example.org"], connection=broadcasts)
        message.metadata = {"delivery_id": "61"}
        message.send()
        with requests.Session() as session:
            postmark_post(esp, session, 62)  # no MessageStream: Postmark's default, "outbound"
        assert [record.stream for record in esp.records_snapshot()] == ["broadcasts", "outbound"]
        assert postmark_search(esp, 61) == [] and postmark_search(esp, 61, "outbound") == []
        assert postmark_search(esp, 61, "broadcasts")[0]["MessageID"] == esp.lookup("61")
        assert postmark_search(esp, 62)[0]["MessageID"] == esp.lookup("62")
        assert postmark_search(esp, 62, "broadcasts") == []


def test_its_faults_are_set_over_http_and_reset_to_the_start():
    with MockEsp(seed=5) as esp, requests.Session() as session:
        settings = {"latency": 0, "latency_jitter": 0, "error_rate_500": 0, "error_rate_429": 1, "retry_after": 3,
                    "hang_rate": 0, "hang_seconds": 1, "drop_connection_rate": 0, "search_lag": 0.5, "seed": 9}
        assert session.post(f"{esp.url}/_mock/config", json=settings, timeout=5).status_code == 200
        assert postmark_post(esp, session, 1).status_code == 429
        assert session.get(f"{esp.url}/_mock/stats", timeout=5).json()["seed"] == 9
        for bad in ({"error_rate_500": 0.6, "error_rate_429": 0.6}, {"no_such_fault": 1}, {"hang_seconds": -1}):
            answer = session.post(f"{esp.url}/_mock/config", json=bad, timeout=5)
            assert answer.status_code == 400, bad
        session.post(f"{esp.url}/_mock/reset", json={}, timeout=5)
        assert postmark_post(esp, session, 2).status_code == 200
        stats = esp.stats()
        assert stats["seed"] == 5 and stats["faults"] == dict.fromkeys(FAULT_KINDS, 0)
