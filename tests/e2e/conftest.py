"""What the browser tests share: a headless Chromium, and axe-core to check pages against WCAG 2.2 AA."""

import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import CHROMEDRIVER, CHROMIUM, CI

WAIT_SECONDS = 20
AXE_SCRIPT = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA; a violation of impact "serious" or "critical" fails.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_FAILING_IMPACTS = {"serious", "critical"}


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1100,1400",
    ):  # fmt: skip
        options.add_argument(argument)
    # Block third-party cookies, as Safari and Firefox do by default and Chrome lets people choose.
    options.add_experimental_option(
        "prefs", {"profile.block_third_party_cookies": True, "profile.cookie_controls_mode": 1}
    )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER, log_output=subprocess.DEVNULL))
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


def _axe_missing() -> str | None:
    if AXE_SCRIPT.exists():
        return None
    return f"axe-core is not installed ({AXE_SCRIPT} missing): run `npm ci` at the project root"


@pytest.fixture
def axe():
    """check(driver, label): run axe-core on the page (or frame) the driver is on and fail on any
    serious or critical WCAG 2.2 AA violation, naming each rule and the elements it found.
    Without axe-core the test is skipped, saying why; under CI=true it fails instead."""
    missing = _axe_missing()
    if missing:
        _refuse_under_ci(missing)
        pytest.skip(missing)
    return _axe_check(AXE_SCRIPT.read_text())


@pytest.fixture
def axe_if_installed():
    """As `axe`, for a test that checks more than accessibility: without axe-core (and not under
    CI=true) the rest of the test still runs and the check does nothing."""
    missing = _axe_missing()
    if missing:
        _refuse_under_ci(missing)
        return lambda driver, label: None
    return _axe_check(AXE_SCRIPT.read_text())


def _refuse_under_ci(missing: str) -> None:
    if CI:
        pytest.fail(f"CI=true and {missing}")


def _axe_check(source: str):
    def check(driver, label: str) -> None:
        if not driver.execute_script("return typeof window.axe === 'object'"):
            driver.execute_script(source)
        violations = driver.execute_async_script(
            """
            var done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: "tag", values: arguments[0]}, resultTypes: ["violations"]})
              .then(function (result) {
                done(result.violations.map(function (v) {
                  return {id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.map(function (n) { return n.target.join(" ") + ": " + n.failureSummary; })};
                }));
              })
              .catch(function (error) { done([{id: "axe-error", impact: "critical", help: String(error), nodes: []}]); });
            """,
            AXE_TAGS,
        )
        failing = [v for v in violations if v["impact"] in AXE_FAILING_IMPACTS]
        assert not failing, f"{label} ({driver.current_url}): " + "\n".join(
            f"[{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:5]) for v in failing
        )

    return check
