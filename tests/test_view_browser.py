"""The trace viewer page in a real headless browser (Chromium driven by
Selenium): opened from file://, no console errors, stepping, the displayed
numbers against the trace's, a weight's explanation against Trace.explain,
screenshots in the test's folder. Skipped, saying why, when no browser is
installed (.ci/run installs one)."""
import shutil

import numpy as np
import pytest

import numbann as nb
from numbann.trace import Recorder, view

webdriver = pytest.importorskip("selenium.webdriver",
                                reason="selenium is not installed (pip install numbann[browser])")
from selenium.webdriver import ActionChains  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
               None)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    BROWSER is None or DRIVER is None,
    reason="no headless browser: Chromium and chromedriver were not found on PATH "
           "(.ci/run installs them: apt-get install chromium chromium-driver)")

XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0], dtype=float)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def xor_trace(init, epochs, hidden="tanh", lr=0.05, batch_size=2):
    """A trained XOR network (init=None: the default, Xavier)."""
    net = nb.MLP([2, 2, 1], hidden=hidden, output="sigmoid", init=init, seed=1)
    rec = Recorder(budget_mb=64)
    net.fit(XOR, XOR_Y, loss="bce", optimizer=nb.optim.Adam(lr=lr), epochs=epochs,
            batch_size=batch_size, trace=rec, verbose=0)
    return rec.trace


def open_page(browser, trace, path):
    view(trace, path)
    browser.get_log("browser")                          # forget earlier pages' messages
    browser.get(path.as_uri())
    assert browser.find_element(By.ID, "step-label").get_attribute("data-step") == \
        str(trace.steps[0])


def console_errors(browser):
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def shown(browser, selector):
    """(displayed text as a number, exact value) of the element at ``selector``."""
    element = browser.find_element(By.CSS_SELECTOR, selector)
    return float(element.text), float(element.get_attribute("data-value"))


def click_weight(browser, l, j, k):
    """Click weight W[l][j,k]'s line a quarter of the way along (lines cross at their middles)."""
    line = browser.find_element(By.CSS_SELECTOR,
                                f'line.weight-hit[data-layer="{l}"][data-j="{j}"][data-k="{k}"]')
    x1, y1, x2, y2 = (float(line.get_attribute(a)) for a in ("x1", "y1", "x2", "y2"))
    ActionChains(browser).move_to_element_with_offset(
        line, int(-(x2 - x1) / 4), int(-(y2 - y1) / 4)).click().perform()


def test_step_read_the_numbers_and_explain_a_weight(browser, tmp_path):
    tr = xor_trace(None, epochs=50)
    open_page(browser, tr, tmp_path / "xor.html")
    for _ in range(3):
        browser.find_element(By.ID, "next").click()
    rec = tr[3]
    assert browser.find_element(By.ID, "step-label").get_attribute("data-step") == "3"
    text, value = shown(browser, "#loss-value")
    assert value == rec.loss and text == pytest.approx(rec.loss, rel=1e-5)
    # the backward view of batch row 0, then of the batch mean
    browser.find_element(By.CSS_SELECTOR, '[data-view="backward"]').click()
    text, value = shown(browser, 'text.unit-value[data-layer="1"][data-unit="1"]')
    assert value == rec.delta[1][0, 1] and text == pytest.approx(value, rel=1e-3)
    browser.find_element(By.CSS_SELECTOR, '#sample option[value="mean"]').click()
    _, value = shown(browser, 'text.unit-value[data-layer="2"][data-unit="0"]')
    assert value == pytest.approx(rec.delta[2][:, 0].mean(), rel=1e-12)
    # the arrow keys step too
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_LEFT)
    assert browser.find_element(By.ID, "step-label").get_attribute("data-step") == "2"
    body.send_keys(Keys.ARROW_RIGHT)
    # a weight's chain rule: the text Trace.explain gives
    click_weight(browser, 1, 1, 0)
    shown_text = browser.find_element(By.ID, "explain-text").get_attribute("textContent")
    assert shown_text == str(tr.explain(3, "W", 1, 1, 0))
    assert browser.find_element(By.ID, "details-title").text == "W[1][1,0] at step 3"
    browser.find_element(By.CSS_SELECTOR, '[data-view="forward"]').click()
    browser.save_screenshot(str(tmp_path / "xor_trained.png"))
    assert console_errors(browser) == []


def test_zero_init_shows_identical_units(browser, tmp_path):
    tr = xor_trace("zeros", epochs=40, hidden="sigmoid", lr=0.1, batch_size=3)  # m = 3, 1, 3, ...
    open_page(browser, tr, tmp_path / "zeros.html")
    browser.find_element(By.ID, "last").click()
    last = tr[-1]
    assert browser.find_element(By.ID, "step-label").get_attribute("data-step") == str(last.step)
    units = [shown(browser, f'text.unit-value[data-layer="1"][data-unit="{u}"]')[1] for u in (0, 1)]
    assert units == [last.a[1][0, 0], last.a[1][0, 1]] and units[0] == units[1]
    # a unit's values over the steps
    browser.find_element(By.CSS_SELECTOR, 'circle.unit[data-layer="1"][data-unit="0"]').click()
    assert browser.find_element(By.ID, "details-title").text.startswith("unit 0 of layer 1")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#details-body canvas")) == 3
    browser.find_element(By.CSS_SELECTOR, '[data-view="update"]').click()
    browser.save_screenshot(str(tmp_path / "xor_zero_init.png"))
    assert console_errors(browser) == []


def test_conv_layers_show_feature_maps_and_explain_a_kernel_weight(browser, tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 1, 6, 6)), rng.integers(0, 3, 8)
    net = nb.Sequential((1, 6, 6), [nb.Conv2D(2, 3, padding=1, activation="relu"),
                                    nb.MaxPool2D(2), nb.Flatten(), nb.Dense(3, "softmax")], seed=0)
    rec = Recorder(budget_mb=16)
    net.fit(X, y, loss="ce", optimizer=nb.optim.SGD(lr=0.1), epochs=1, batch_size=4,
            trace=rec, verbose=0)
    tr = rec.trace
    open_page(browser, tr, tmp_path / "conv.html")
    # one image per channel: the input (1), the conv layer (2), the pooling layer (2)
    for l, channels in ((0, 1), (1, 2), (2, 2)):
        assert len(browser.find_elements(By.CSS_SELECTOR, f'image[data-layer="{l}"]')) == channels
    # W[1] is drawn as 2 x 1 tiles of 3 x 3 cells, a 2-pixel gap between tiles;
    # click the cell of W[1][1,0,2,1]: row o k_h + i = 5, column c k_w + j = 1
    canvas = browser.find_element(By.CSS_SELECTOR, 'canvas[data-name="W_before/1"]')
    cell = int(canvas.get_attribute("width")) // 3
    x, y = cell * 1 + cell // 2, cell * 5 + 2 + cell // 2
    width, height = (int(canvas.get_attribute(a)) for a in ("width", "height"))
    ActionChains(browser).move_to_element_with_offset(
        canvas, x - width // 2, y - height // 2).click().perform()
    assert browser.find_element(By.ID, "details-title").text == "W[1][1,0,2,1] at step 0"
    text = browser.find_element(By.ID, "explain-text").get_attribute("textContent")
    assert text == str(tr.explain(0, "W", 1, 1, 0, 2, 1))
    browser.find_element(By.CSS_SELECTOR, '[data-view="backward"]').click()
    browser.save_screenshot(str(tmp_path / "conv.png"))
    assert console_errors(browser) == []


def test_an_rnn_layer_shows_its_time_steps(browser, tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 6, 2)), rng.integers(0, 2, 8)
    net = nb.Sequential((6, 2), [nb.RNN(5), nb.Dense(2, "softmax")], seed=0)
    rec = Recorder(budget_mb=16)
    net.fit(X, y, loss="ce", optimizer="sgd", epochs=1, batch_size=4, trace=rec, verbose=0)
    tr = rec.trace
    open_page(browser, tr, tmp_path / "rnn.html")
    # h_t of every time step: one image of T = 6 rows and 5 units
    image = browser.find_element(By.CSS_SELECTOR, 'image[data-layer="1"]')
    width, height = (float(image.get_attribute(a)) for a in ("width", "height"))
    assert height / width == pytest.approx(6 / 5)
    ActionChains(browser).move_to_element_with_offset(   # row t = 3, unit 4
        image, int(width * 0.9 - width / 2), int(height * 2.5 / 6 - height / 2)).click().perform()
    assert browser.find_element(By.ID, "details-title").text == \
        "time step t = 3, unit 4 of layer 1 at step 0"
    cells = browser.find_elements(By.CSS_SELECTOR, "#details-body td")
    assert float(cells[1].text) == pytest.approx(tr[0].h_steps[1][0, 2, 4], rel=1e-7)
    assert console_errors(browser) == []
