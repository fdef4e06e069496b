import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def model():
    """A tiny KerasDALLE trained for one short epoch (shared by the export and serving tests)."""
    import keras
    import tensorflow as tf

    from helpers import tiny
    from keras_dalle.data import shapes

    dalle = tiny.dalle(optimizer=keras.optimizers.Adam(3e-3))
    images, captions = shapes.generate_shapes(32, seed=0, canvas_size=tiny.SIZE)
    dalle.fit(tf.data.Dataset.from_tensor_slices((captions, images)).batch(8), epochs=1, verbose=0)
    return dalle


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(a tiny KerasDALLE trained for two short epochs, its .keras file), for the model and stage tests."""
    import keras
    import tensorflow as tf

    from helpers import tiny
    from keras_dalle.data import shapes

    model = tiny.dalle(optimizer=keras.optimizers.Adam(3e-3))
    images, captions = shapes.generate_shapes(32, seed=0, canvas_size=tiny.SIZE)
    model.fit(tf.data.Dataset.from_tensor_slices((captions, images)).batch(8), epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return model, path


@pytest.fixture(scope="session")
def exported(model, tmp_path_factory):
    """The tiny model's SavedModel at BASE/keras_dalle/1."""
    from export import saved_model

    return saved_model.export_saved_model(model, tmp_path_factory.mktemp("serving") / "keras_dalle" / "1")


@pytest.fixture
def unused_port():
    """A function returning a TCP port on 127.0.0.1 that nobody listens on (at the time of the call)."""
    import socket

    def pick():
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    return pick


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Selenium (skips, or fails under KERAS_DALLE_REQUIRE_SYSTEM_PACKAGES, without it)."""
    from helpers.system import skip_unless
    from serving import web

    try:
        driver = web.headless_chromium()
    except RuntimeError as err:
        skip_unless(False, str(err))
    yield driver
    driver.quit()
