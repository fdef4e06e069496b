"""The docs' pictures of the playground: `python -m serving.web.screenshot --out docs/playground.png`
and `... --show emoji --prompt "red apple" --out docs/playground_emoji.png`.

Exports the shipped shapes model (`--model` for another) as `keras_dalle` and the shipped emoji
model as `emoji` to temporary SavedModels, serves both with the local server and the page (so its
model menu lists both), and drives headless Chromium (`make browser`) on the `--show` model's
page: types the prompt, asks for 4 pictures from seed 0 and saves a screenshot of the page.
"""

import argparse
import pathlib
import sys
import tempfile

from export import saved_model
from keras_dalle import pretrained
from serving import server as serving_server
from serving import web


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a .keras model (default: the shipped shapes model)")
    parser.add_argument("--show", default="keras_dalle", choices=("keras_dalle", "emoji"), help="whose page to draw")
    parser.add_argument("--prompt", default="a big red circle in the top left")
    parser.add_argument("--out", default="docs/playground.png")
    args = parser.parse_args(argv)
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory() as tmp:
        served = []
        for name, model in (("keras_dalle", args.model), ("emoji", "emoji")):
            exported = saved_model.export_saved_model(pretrained.load_model(model), pathlib.Path(tmp) / name / "1")
            served.append(serving_server.ServedModel(name, exported.parent))
        repository = serving_server.ModelRepository(served)
        driver = web.headless_chromium(1000, 760)
        try:
            with serving_server.LocalServer(repository, port=0, rest_port=0, web=True) as running:
                driver.get(f"http://127.0.0.1:{running.rest_port}/?model={args.show}")
                WebDriverWait(driver, 60).until(
                    lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "true"
                    and d.find_element("tag name", "body").get_attribute("data-models") == "2"
                )
                driver.find_element("id", "prompt").send_keys(args.prompt)
                driver.find_element("id", "seed").send_keys("0")
                driver.find_element("id", "generate").click()
                WebDriverWait(driver, 300).until(
                    lambda d: len(d.find_elements("css selector", "#results img")) == 4 or d.find_element("id", "error").is_displayed()
                )
                if driver.find_element("id", "error").is_displayed():
                    raise RuntimeError(f"the page shows an error: {driver.find_element('id', 'error').text}")
                pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(args.out)
        finally:
            driver.quit()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
