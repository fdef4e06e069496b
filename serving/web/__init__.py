"""The web playground: one page (plain HTML, CSS and JavaScript, no build step, nothing fetched
from elsewhere) that `python -m serving.server ... --web` serves on the REST port at `/`.

The page talks to TF Serving's REST API only (`GET /v1/models/NAME/metadata`, `POST
/v1/models/NAME:predict` with `{"b64": ...}` bytes), so it works the same against a real TF
Serving behind a proxy that serves these files at `/` and forwards `/v1/` to the model server.
The model name comes from the page's `?model=NAME` (default `keras_dalle`).
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


def static_file(url_path):
    """(bytes, content type) of the playground file at `url_path` (query string ignored), or None."""
    entry = FILES.get(url_path.split("?", 1)[0])
    if entry is None:
        return None
    name, content_type = entry
    return (_HERE / name).read_bytes(), content_type
