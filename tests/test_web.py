"""The web playground in a real headless browser (Chromium driven by Selenium) against the local server."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from helpers.browser import wait_until
from serving import server as serving_server

LIMITS = serving_server.Limits(max_batch_size=8, max_prompt_bytes=200, max_message_bytes=256 * 1024)


@pytest.fixture(scope="module")
def page(exported, browser):
    repository = serving_server.ModelRepository([serving_server.ServedModel("keras_dalle", exported.parent, LIMITS)])
    with serving_server.LocalServer(repository, port=0, rest_port=0, limits=LIMITS, web=True) as running:
        browser.get(f"http://127.0.0.1:{running.rest_port}/?model=keras_dalle")
        wait_until(browser, 60, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "true")
        yield browser


def _generate(page, prompt, count):
    page.execute_script("document.getElementById('results').replaceChildren(); document.getElementById('error').hidden = true;")
    box = page.find_element("id", "prompt")
    box.clear()
    box.send_keys(prompt)
    field = page.find_element("id", "count")
    field.clear()
    field.send_keys(str(count))
    page.find_element("id", "generate").click()
    wait_until(page, 120, lambda d: d.find_elements("css selector", "#results img") or d.find_element("id", "error").is_displayed())
    return page.find_elements("css selector", "#results img")


def _png(img):
    data = img.get_attribute("src")
    assert data.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1])))


def test_the_page_fills_the_models_defaults(page, model):
    values = {name: page.find_element("id", name).get_attribute("value") for name in ("temperature", "top_k", "top_p", "cfg_scale")}
    assert float(values["temperature"]) == pytest.approx(model.temperature) and int(values["top_k"]) == model.top_k
    assert float(values["cfg_scale"]) == pytest.approx(model.cfg_scale)
    assert int(page.find_element("id", "keep_rows").get_attribute("max")) == model.grid_size - 1


def test_generate_shows_pngs_of_the_models_size_with_their_seeds(page, model):
    page.find_element("id", "seed").send_keys("7")
    temperature = page.find_element("id", "temperature")
    temperature.clear()
    temperature.send_keys("0.83")  # off any input step: the form must still submit
    images = _generate(page, "a red circle", 3)
    assert len(images) == 3
    for index, img in enumerate(images):
        picture = _png(img)
        assert picture.format == "PNG" and picture.size == (model.image_size, model.image_size)
        assert img.get_attribute("alt") == f"seed {7 + index}"
    links = page.find_elements("css selector", "#results figcaption a")
    assert [a.get_attribute("download") for a in links] == [f"keras_dalle_seed_{7 + i}.png" for i in range(3)]
    # The same seed draws the same pictures as the model does in Python.
    expected = model.generate(["a red circle"], num_images=3, seed=7, temperature=0.83)
    for img, picture in zip(images, expected):
        assert np.abs(np.asarray(_png(img).convert("RGB")).astype(int) - picture).max() <= 1


def test_an_empty_prompt_shows_the_servers_error(page):
    assert _generate(page, "", 1) == []
    error = page.find_element("id", "error")
    assert error.is_displayed() and "prompt must not be empty" in error.text


def test_completion_from_an_uploaded_picture(page, model, tmp_path):
    from keras_dalle.data import shapes

    picture = shapes.generate_shapes(1, seed=4, canvas_size=model.image_size)[0][0]
    Image.fromarray(picture).save(tmp_path / "in.png")
    page.find_element("id", "image").send_keys(str(tmp_path / "in.png"))
    keep = page.find_element("id", "keep_rows")
    keep.clear()
    keep.send_keys("1")
    seed = page.find_element("id", "seed")
    seed.clear()
    seed.send_keys("5")
    try:
        images = _generate(page, "a blue square", 2)
    finally:
        page.find_element("id", "clear-image").click()
    settings = {name: float(page.find_element("id", name).get_attribute("value")) for name in ("temperature", "top_p", "cfg_scale")}
    settings["top_k"] = int(page.find_element("id", "top_k").get_attribute("value"))
    expected = model.decode_tokens(
        model.generate_tokens(["a blue square"], num_images=2, seed=5, image=picture, keep_rows=1, **settings)
    )
    assert len(images) == 2
    for img, want in zip(images, expected):
        assert np.abs(np.asarray(_png(img).convert("RGB")).astype(int) - want).max() <= 1


def test_the_server_hands_out_the_page_only_with_web_and_only_its_files(exported):
    import urllib.error
    import urllib.request

    repository = serving_server.ModelRepository([serving_server.ServedModel("keras_dalle", exported.parent, LIMITS)])
    for serve_web in (True, False):
        with serving_server.LocalServer(repository, port=0, rest_port=0, limits=LIMITS, web=serve_web) as running:
            base = f"http://127.0.0.1:{running.rest_port}"
            for path, kind in (("/?model=keras_dalle", "text/html"), ("/web/playground.js", "text/javascript")):
                if serve_web:
                    with urllib.request.urlopen(base + path, timeout=10) as reply:
                        assert reply.headers["Content-Type"].startswith(kind) and reply.read()
                else:
                    with pytest.raises(urllib.error.HTTPError) as failure:
                        urllib.request.urlopen(base + path, timeout=10)
                    assert failure.value.code == 404
            with pytest.raises(urllib.error.HTTPError) as failure:  # nothing outside the page's own files
                urllib.request.urlopen(base + "/web/__init__.py", timeout=10)
            assert failure.value.code == 404


def test_the_page_offers_every_served_model_and_switches_to_the_chosen_one(exported, browser):
    from selenium.webdriver.support.ui import Select

    models = [serving_server.ServedModel(name, exported.parent, LIMITS) for name in ("keras_dalle", "emoji")]
    ready = lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "true"  # noqa: E731
    with serving_server.LocalServer(serving_server.ModelRepository(models), port=0, rest_port=0, limits=LIMITS, web=True) as running:
        browser.get(f"http://127.0.0.1:{running.rest_port}/?model=keras_dalle")
        wait_until(browser, 60, lambda d: ready(d) and d.find_element("id", "model-choice").is_displayed())
        menu = Select(browser.find_element("id", "model"))
        assert [o.text for o in menu.options] == ["emoji", "keras_dalle"] and menu.first_selected_option.text == "keras_dalle"
        menu.select_by_visible_text("emoji")
        wait_until(browser, 60, lambda d: d.current_url.endswith("?model=emoji") and ready(d))
        assert browser.find_element("id", "model-status").text.startswith("model emoji:")
        assert Select(browser.find_element("id", "model")).first_selected_option.text == "emoji"
    # One model: no menu.
    one = serving_server.ModelRepository([serving_server.ServedModel("keras_dalle", exported.parent, LIMITS)])
    with serving_server.LocalServer(one, port=0, rest_port=0, limits=LIMITS, web=True) as running:
        browser.get(f"http://127.0.0.1:{running.rest_port}/?model=keras_dalle")
        wait_until(browser, 60, lambda d: ready(d) and d.find_element("tag name", "body").get_attribute("data-models") == "1")
        assert not browser.find_element("id", "model-choice").is_displayed()
