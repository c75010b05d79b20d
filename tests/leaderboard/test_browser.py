"""Real-browser tests: Debian's Chromium driven by Selenium against a live server.

Skipped only when Chromium or chromedriver is absent *and* CI is unset; ``.ci/run`` installs both.
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import parse_qs, urlparse

import pytest

from tests.leaderboard.conftest import LiveServer, make_app

XSS = "<img src=x onerror=alert(1)>"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def site(tmp_path_factory):  # noqa: ANN201
    from leaderboard.db.models import Token
    from leaderboard.demo import base_results, seed_demo
    from leaderboard.submissions import insert

    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'lb.db'}"
    app = make_app(url)
    with app.state.sessions() as s:
        seed_demo(s, n_models=10)
        token = s.query(Token).first()
        evil = base_results("janus").model_copy(update={"settings": {**base_results().settings, "limit": 6}})
        insert(s, token, evil, XSS, 3.0, status="published")
    with LiveServer(app) as server:
        yield server
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        if os.environ.get("CI"):
            pytest.fail("CI is set but chromium/chromedriver are missing; .ci/run must apt-get install them.")
        pytest.skip("chromium and chromium-driver (Debian packages) are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--disable-extensions", "--no-first-run"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def navigate(driver, element) -> None:  # noqa: ANN001
    """Click something that loads a page and wait until the old page is gone (no stale reads)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(ec.staleness_of(old))


def row_ids(driver) -> list[str]:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    return [tr.get_attribute("data-id") for tr in driver.find_elements(By.CSS_SELECTOR, "#ranking tbody tr")]


def column(driver, index: int) -> list[str]:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    return [tr.find_elements(By.TAG_NAME, "td")[index].text
            for tr in driver.find_elements(By.CSS_SELECTOR, "#ranking tbody tr")]


def header_index(driver, key: str) -> int:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    ths = driver.find_elements(By.CSS_SELECTOR, "#ranking thead th")
    return [th.get_attribute("id") for th in ths].index(f"col-{key}")


def test_clicking_a_header_sorts_the_table(site, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{site.url}/tasks/unified")
    navigate(browser, browser.find_element(By.CSS_SELECTOR, "#col-clip a"))
    assert parse_qs(urlparse(browser.current_url).query)["sort"] == ["clip"]
    idx = header_index(browser, "clip")
    values = [float(v.split()[0]) for v in column(browser, idx)]
    assert values == sorted(values, reverse=True) and len(values) == 13  # higher is better: best first
    navigate(browser, browser.find_element(By.CSS_SELECTOR, "#col-clip a"))  # again: ascending
    assert "dir" not in parse_qs(urlparse(browser.current_url).query)
    values = [float(v.split()[0]) for v in column(browser, idx)]
    assert values == sorted(values)
    navigate(browser, browser.find_element(By.CSS_SELECTOR, "#col-lpips a"))  # lower is better: ascending first
    lpips = [float(v.split()[0]) for v in column(browser, header_index(browser, "lpips"))]
    assert lpips == sorted(lpips)


def test_filters_and_columns_are_applied_and_kept_in_the_url(site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(f"{site.url}/tasks/unified?sort=name")
    Select(browser.find_element(By.ID, "type")).select_by_value("composite")
    browser.find_element(By.ID, "col-dinov3").click()  # untick one metric column
    navigate(browser, browser.find_element(By.ID, "apply"))
    query = parse_qs(urlparse(browser.current_url).query)
    assert query["type"] == ["composite"] and query["sort"] == ["name"]
    types = column(browser, 2)
    assert types and set(types) == {"composite"}
    names = [n.rsplit(" #", 1)[0] for n in column(browser, 1)]
    assert names == sorted(names, key=str.casefold)
    headers = [th.get_attribute("id") for th in browser.find_elements(By.CSS_SELECTOR, "#ranking thead th")]
    assert "col-dinov3" not in headers and "col-clip" in headers
    browser.find_element(By.ID, "q").send_keys("0007")
    navigate(browser, browser.find_element(By.ID, "apply"))
    assert [n.rsplit(" #", 1)[0] for n in column(browser, 1)] == ["synthetic-composite-0007"]


def test_a_permalink_reproduces_the_view(site, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{site.url}/tasks/unified?sort=lpips&dir=desc&max_params=30&cols=lpips,clip")
    navigate(browser, browser.find_element(By.ID, "permalink"))
    link = browser.current_url
    first = (row_ids(browser), browser.find_element(By.ID, "ranking").text)
    browser.get(f"{site.url}/tasks/unified")  # somewhere else, then back through the link alone
    browser.get(link)
    assert (row_ids(browser), browser.find_element(By.ID, "ranking").text) == first
    assert len(first[0]) >= 2


def test_a_hostile_model_name_is_text_and_runs_nothing(site, browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get(f"{site.url}/tasks/unified?q=onerror")
    links = browser.find_elements(By.CSS_SELECTOR, "#ranking td.name a")
    assert [a.text for a in links] == [XSS]
    assert browser.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    navigate(browser, links[0])
    assert browser.find_element(By.ID, "model-name").text == XSS
    assert browser.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - accessing it raises when no alert is open


def test_compare_page_renders_both_models(site, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{site.url}/tasks/unified")
    ids = row_ids(browser)
    form = browser.find_element(By.ID, "compare")
    form.find_element(By.NAME, "a").send_keys(ids[0])
    form.find_element(By.NAME, "b").send_keys(ids[1])
    navigate(browser, form.find_element(By.TAG_NAME, "button"))
    a_name = browser.find_element(By.ID, "a-name").text
    b_name = browser.find_element(By.ID, "b-name").text
    assert a_name and b_name and a_name != b_name
    diffs = browser.find_elements(By.CSS_SELECTOR, "#sample-diffs tbody tr")
    assert len(diffs) == 6  # the demo image set
