"""The Android sample's app-side logic (prompt -> ids, RGB tensor -> ARGB pixels, the kept candidate) against the
Python reference.

The Java sources under serving/android are compiled and their JUnit test run on the JVM when a JDK, JUnit 4 and
ICU4J are installed (Debian: `apt-get install openjdk-17-jdk-headless junit4 libicu4j-java`); otherwise that test
is skipped with the reason. The picture vectors themselves are checked against numpy here.
"""

import json
import os
import pathlib
import shutil
import subprocess

import numpy as np

from helpers.system import skip_unless

ROOT = pathlib.Path(__file__).resolve().parents[1]
ANDROID = ROOT / "serving" / "android" / "app" / "src"
DATA = ROOT / "tests" / "data"
JARS = [pathlib.Path("/usr/share/java") / name for name in ("junit4.jar", "hamcrest-core.jar", "icu4j.jar")]


def test_picture_vectors_follow_the_bitmap_pixel_format():
    vectors = json.loads((DATA / "picture_vectors.json").read_text())
    rgb = np.array(vectors["rgb"], np.uint32).reshape(vectors["size"], vectors["size"], 3)
    argb = (0xFF << 24) | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    np.testing.assert_array_equal(argb.astype(np.uint32).view(np.int32).reshape(-1), vectors["argb"])
    assert vectors["argb"][:2] == [-1, -16777216]  # opaque white 0xFFFFFFFF, opaque black 0xFF000000


def _classpath():
    custom = os.environ.get("ANDROID_TEST_CLASSPATH")
    return custom.split(os.pathsep) if custom else [str(jar) for jar in JARS]


def test_android_prompt_encoder_and_pictures_on_the_jvm(tmp_path):
    skip_unless(
        shutil.which("javac") is not None and bool(os.environ.get("ANDROID_TEST_CLASSPATH") or all(j.exists() for j in JARS)),
        "needs javac, JUnit 4 and ICU4J (make jvm)",
    )
    sources = sorted(str(p) for p in ANDROID.rglob("*.java"))
    classpath = os.pathsep.join(_classpath())
    subprocess.run(["javac", "-d", str(tmp_path), "-cp", classpath, *sources], check=True)
    result = subprocess.run(
        ["java", f"-Dvectors.dir={DATA}", "-cp", os.pathsep.join([str(tmp_path), classpath]),
         "org.junit.runner.JUnitCore", "dev.kerasdalle.sample.SharedVectorsTest"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK (4 tests)" in result.stdout
