"""A mailing in the workspace, in real Chromium: the live preview follows the typing (as a chosen
recipient, with the merge-field picker); a mailing sent from the page is sent by a real Celery
worker through a slowed mock ESP while the page is open, and its progress bar moves through
intermediate values to 100% without the page reloading. axe-core checks every mailing page."""

import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from django.urls import reverse
from selenium.webdriver.support.ui import Select

from config.celery import app
from mailings.models import Delivery, Mailing
from tests.e2e.test_embed_browser import _wait
from tests.support.factories import (
    make_audience_bulk,
    make_list,
    make_mailing,
    make_message,
    make_organisation,
    make_sender,
    make_supporter,
)
from tests.support.mock_esp import MockEsp

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(django_settings.BASE_DIR) / "var" / "test-artifacts"  # screenshots, for a look
RECIPIENTS = 24
CHUNK = 2
ESP_LATENCY = 0.35  # seconds per call: 12 calls, about 4 s of sending while the page watches


@pytest.fixture
def workspace(live_server, settings, browser):
    settings.SITE_URL = live_server.url
    host = make_organisation()
    user = get_user_model().objects.create_user("maya", "maya@hct.example", "pw-maya-123")
    host.members.add(user)
    news = make_list(slug="news", name="Coalition news", organisation=host)
    make_supporter("grace@example.org", first_name="Grace", subscribed_to=news)
    make_audience_bulk(RECIPIENTS - 1, mailing_list=news, organisation=host)
    make_supporter("elsewhere@example.org")  # opted in to the host, on no list
    message = make_message(sender=make_sender(organisation=host), subject="Rally on Friday",
                           body="Hello {{ first_name|default:\"friend\" }},\n\nCome to the rally.")
    mailing = make_mailing(message=message, mailing_list=news)
    # Log the browser in with a session made by Django's test client.
    client = Client()
    client.force_login(user)
    browser.get(f"{live_server.url}{reverse('organise:login')}")
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                        "path": "/"})
    return {"url": live_server.url, "org": host.slug, "mailing": mailing, "news": news}


def _page(workspace, name, **kwargs):
    if name not in ("organise:mailings", "organise:mailing_new"):
        kwargs.setdefault("pk", workspace["mailing"].pk)
    return workspace["url"] + reverse(name, kwargs={"org": workspace["org"], **kwargs})


@pytest.fixture
def slow_esp(settings):
    """Bulk mail through anymail's Mailgun backend (batch mode) to a mock ESP that takes its
    time over each call, in small chunks on one lane: the sending lasts seconds."""
    with MockEsp(latency=ESP_LATENCY) as esp:
        settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
        settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_API_KEY": "test-key", "MAILGUN_API_URL": f"{esp.url}/v3",
                            "MAILGUN_SENDER_DOMAIN": "mail.muster.test", "REQUESTS_TIMEOUT": 5}
        settings.MAILINGS_RATE_LIMIT_KEY_PREFIX = f"muster-test-{settings.CHECKOUT_ID}-mailings"
        settings.MAILINGS_CHUNK_SIZE = CHUNK
        settings.MAILINGS_SEND_LANES = 1
        yield esp


@pytest.fixture
def real_worker(live_server, slow_esp):
    """A Celery worker on the Redis broker, in this process (so it sees the test's settings)."""
    app.conf.task_always_eager = False
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(app.conf.task_default_queue)
    # The worker's thread closes its database connections after each task, so that none is
    # left open on the test database when the run drops it.
    task_postrun.connect(_close_connections)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        task_postrun.disconnect(_close_connections)
        app.conf.task_always_eager = True


def _close_connections(**kwargs):
    connections.close_all()


def test_the_live_preview_follows_the_typing_as_the_chosen_recipient(workspace, browser, axe):
    browser.get(_page(workspace, "organise:mailing_message"))
    axe(browser, "the message step")
    frame = lambda d: d.execute_script("return document.getElementById('preview-desktop').srcdoc")  # noqa: E731
    assert "Hello friend," in frame(browser)

    # Preview as Grace, found by her address among the recipients.
    search = browser.find_element("id", "preview-as-q")
    search.send_keys("grace@")
    _wait(browser, lambda d: d.find_elements("css selector", "#preview-as-results button"), "no recipient found")
    browser.find_element("css selector", "#preview-as-results button").click()
    _wait(browser, lambda d: "Hello Grace," in frame(d), "the preview did not show Grace's copy")
    assert "grace@example.org" in browser.find_element("css selector", "[data-as-label]").text

    # Type, and the preview follows without a reload.
    browser.execute_script("window.stillThisPage = true")
    body = browser.find_element("id", "id_body")
    body.clear()
    body.send_keys("Dear ")
    Select(browser.find_element("id", "merge-field")).select_by_value("{{ first_name }}")
    browser.find_element("css selector", "[data-insert-merge]").click()
    body.send_keys(", the **hand-in** is on Monday.")
    assert body.get_attribute("value") == "Dear {{ first_name }}, the **hand-in** is on Monday."
    _wait(browser, lambda d: "Dear Grace, the <strong>hand-in</strong> is on Monday." in frame(d),
          "the preview did not follow the typing")
    assert "Dear Grace" in browser.execute_script("return document.getElementById('preview-phone').srcdoc")
    subject = browser.find_element("id", "id_subject")
    subject.clear()
    subject.send_keys("Monday, {{ first_name }}")
    _wait(browser, lambda d: d.find_element("id", "preview-subject").text == "Monday, Grace", "the subject did not follow")
    # A merge field no recipient has: said, not shown.
    body.send_keys(" {{ shoe_size }}")
    _wait(browser, lambda d: "shoe_size" in d.find_element("id", "preview-status").text, "no message for a bad field")
    assert browser.execute_script("return window.stillThisPage") is True
    browser.find_element("css selector", "input#width-phone").click()
    assert browser.find_element("css selector", "[data-frame=phone]").is_displayed()
    assert not browser.find_element("css selector", "[data-frame=desktop]").is_displayed()
    axe(browser, "the message step, edited")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "workspace-mailing-message.png"))
    browser.set_window_size(390, 900)
    axe(browser, "the message step at phone width")


def test_a_mailing_sent_from_the_page_shows_its_progress_to_the_end(workspace, browser, axe, real_worker, slow_esp):
    for name, label in (("organise:mailings", "the mailing list"), ("organise:mailing_new", "a new mailing"),
                        ("organise:mailing_audience", "the audience step")):
        browser.get(_page(workspace, name))
        axe(browser, label)
    browser.find_element("css selector", "input[name=mailing_list][value='']").click()  # as the organisation
    _wait(browser, lambda d: f"{RECIPIENTS + 1} people will receive it" in d.find_element("id", "audience-count").text,
          "the count did not follow the choice")
    browser.find_element("css selector", f"input[name=mailing_list][value='{workspace['news'].pk}']").click()
    _wait(browser, lambda d: f"{RECIPIENTS} people will receive it" in d.find_element("id", "audience-count").text,
          "the count did not follow the choice")

    browser.get(_page(workspace, "organise:mailing"))
    axe(browser, "the send step")
    button = browser.find_element("id", "send-now")
    assert button.text == f"Send to {RECIPIENTS} people"
    button.click()
    _wait(browser, lambda d: d.find_elements("id", "mailing-progress-bar"), "no progress bar after sending")
    browser.execute_script("window.stillThisPage = true")

    seen, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline:
        value = float(browser.find_element("id", "mailing-progress-bar").get_attribute("value"))
        if not seen or seen[-1] != value:
            seen.append(value)
        if value >= 100:
            break
        time.sleep(0.1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "workspace-mailing-progress.png"))
    assert seen and seen[-1] == 100, f"the bar stopped at {seen}"
    assert any(0 < v < 100 for v in seen), f"no intermediate value seen: {seen}"
    assert seen == sorted(seen), f"the bar went backwards: {seen}"
    assert browser.execute_script("return window.stillThisPage") is True, "the page reloaded"
    _wait(browser, lambda d: d.find_element("id", "finished-note").is_displayed(), "the page never said it finished")
    assert browser.find_element("id", "progress-line").text.startswith("Sent:")
    assert browser.find_element("css selector", "[data-k=rate]").text.endswith("a minute")
    mailing = Mailing.objects.get(pk=workspace["mailing"].pk)
    assert mailing.status == Mailing.Status.SENT
    assert Delivery.objects.filter(mailing=mailing, status=Delivery.Status.SENT).count() == RECIPIENTS
    assert slow_esp.stats()["messages"] == RECIPIENTS
    axe(browser, "the progress, finished")

    browser.get(_page(workspace, "organise:mailing"))
    _wait(browser, lambda d: d.find_elements("css selector", "#figure-hourly canvas"), "no hourly chart")
    axe(browser, "the results")
    browser.save_screenshot(str(ARTIFACTS / "workspace-mailing-results.png"))
    browser.set_window_size(390, 900)
    axe(browser, "the results at phone width")


@pytest.fixture
def no_worker(live_server):
    """Tasks go to the broker and no worker takes them: a started mailing stays as it is."""
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = True
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(app.conf.task_default_queue)


def test_pause_resume_and_cancel_from_the_page(workspace, browser, axe, no_worker):
    from mailings.services.sending import mailing_start

    mailing = mailing_start(mailing_id=workspace["mailing"].pk)  # snapshotted; its chunks wait in the broker
    browser.get(_page(workspace, "organise:mailing"))
    axe(browser, "a mailing sending")
    browser.find_element("css selector", "form[data-when=sending] button").click()
    _wait(browser, lambda d: "Paused" in d.find_element("css selector", "h1 .status").text, "not paused")
    axe(browser, "a mailing paused")
    browser.find_element("css selector", "form[data-when=paused] button").click()
    _wait(browser, lambda d: d.find_element("css selector", "form[data-when=sending]").is_displayed(), "not resumed")
    browser.find_element("css selector", "form[data-when='scheduled sending paused'] button").click()
    _wait(browser, lambda d: "Cancel the mailing?" in d.page_source, "no confirmation asked")
    axe(browser, "cancel: the confirmation")
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.SENDING
    browser.find_element("css selector", "button.button-danger").click()
    _wait(browser, lambda d: "Cancelled" in d.find_element("css selector", "h1 .status").text, "not cancelled")
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.CANCELLED
    assert Delivery.objects.filter(mailing=mailing, status=Delivery.Status.CANCELLED).count() == RECIPIENTS
    axe(browser, "a mailing cancelled")
