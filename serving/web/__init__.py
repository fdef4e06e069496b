"""The web playground: one page (plain HTML, CSS and JavaScript, no build step, nothing fetched
from elsewhere) that `python -m serving.server ... --web` serves on the REST port at `/`.

The page talks to TF Serving's REST API only (`GET /v1/models/NAME/metadata`, `POST
/v1/models/NAME:predict` with `{"b64": ...}` bytes), so it works the same against a real TF
Serving behind a proxy that serves these files at `/` and forwards `/v1/` to the model server.
The model name comes from the page's `?model=NAME` (default `keras_dalle`); where `MODELS_PATH`
answers (the local server's list of served models), the page offers a menu of them.
"""

import pathlib

_HERE = pathlib.Path(__file__).parent
# URL path -> (file, content type): the only files the server hands out.
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/web/playground.js": ("playground.js", "text/javascript; charset=utf-8"),
    "/web/playground.css": ("playground.css", "text/css; charset=utf-8"),
}

# The served models' names as {"models": [...]}: the local server answers it; TF Serving has no such call.
MODELS_PATH = "/web/models.json"


def static_file(url_path):
    """(bytes, content type) of the playground file at `url_path` (query string ignored), or None."""
    entry = FILES.get(url_path.split("?", 1)[0])
    if entry is None:
        return None
    name, content_type = entry
    return (_HERE / name).read_bytes(), content_type


def headless_chromium(width=1100, height=900):
    """A Selenium driver for Debian's headless Chromium (`make browser` installs it and its driver).
    Raises RuntimeError when Chromium, chromedriver or the selenium package is missing."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        raise RuntimeError("no Chromium and chromedriver installed (`make browser` installs Debian's)")
    try:
        from selenium import webdriver
    except ImportError as err:
        raise RuntimeError("the selenium package is missing (pip install -e '.[test]')") from err
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)
