"""Export parity: Keras, SavedModel (fresh process, TF + tensorflow-text only), TFLite, ONNX."""

import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from export import onnx as onnx_export
from export import tflite

PROMPTS = ["a red circle", "a blue square above a green triangle"]
KEEP_ROWS = 2


@pytest.fixture(scope="module")
def greedy_tokens(model):
    return model.generate_tokens(PROMPTS, seed=0, top_k=1).numpy()


@pytest.fixture(scope="module")
def pictures_to_complete(model):
    from keras_dalle.data import shapes

    return shapes.generate_shapes(len(PROMPTS), seed=11, canvas_size=model.image_size)[0]


@pytest.fixture(scope="module")
def greedy_completion(model, pictures_to_complete):
    return model.generate_tokens(PROMPTS, seed=0, top_k=1, image=pictures_to_complete, keep_rows=KEEP_ROWS).numpy()


def _png(picture):
    import io

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


FRESH_PROCESS = textwrap.dedent(
    """
    import io, json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (TF Serving's model server links these ops too)
    assert not any(name.split(".")[0] in ("keras_dalle", "export") for name in sys.modules)
    loaded = tf.saved_model.load(sys.argv[1])
    prompts = tf.constant(json.loads(sys.argv[2]))
    rows = lambda v, d: tf.fill([len(json.loads(sys.argv[2]))], tf.constant(v, d))
    greedy = loaded.signatures["generate"](
        prompt=prompts, temperature=rows(1.0, tf.float32), top_k=rows(1, tf.int32), top_p=rows(1.0, tf.float32),
        cfg_scale=rows(float(sys.argv[3]), tf.float32), seed=rows(0, tf.int64))
    default = loaded.signatures["serving_default"](prompt=prompts)
    decoded = loaded.signatures["decode_tokens"](tokens=greedy["tokens"])
    pngs = [open(f"{sys.argv[5]}.{index}.png", "rb").read() for index in range(len(json.loads(sys.argv[2])))]
    completed = loaded.signatures["complete"](
        prompt=prompts, image_bytes=tf.constant(pngs), keep_rows=rows(int(sys.argv[6]), tf.int32),
        temperature=rows(1.0, tf.float32), top_k=rows(1, tf.int32), top_p=rows(1.0, tf.float32),
        cfg_scale=rows(float(sys.argv[3]), tf.float32), seed=rows(0, tf.int64))
    for index, png in enumerate(greedy["image_bytes"].numpy()):
        open(f"{sys.argv[4]}.{index}.png", "wb").write(png)
    np.savez(sys.argv[4], tokens=greedy["tokens"].numpy(), image=greedy["image"].numpy(),
             default_image=default["image"].numpy(), decoded=decoded["image"].numpy(),
             completed=completed["tokens"].numpy())
    """
)


def test_saved_model_runs_in_a_fresh_process_with_tf_and_tf_text_only(
    model, greedy_tokens, greedy_completion, pictures_to_complete, exported, tmp_path
):
    out = tmp_path / "result.npz"
    for index, picture in enumerate(pictures_to_complete):
        (tmp_path / f"input.{index}.png").write_bytes(_png(picture))
    subprocess.run(
        [
            sys.executable, "-c", FRESH_PROCESS, str(exported), json.dumps(PROMPTS), str(model.cfg_scale), str(out),
            str(tmp_path / "input"), str(KEEP_ROWS),
        ],
        check=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    result = np.load(out)
    np.testing.assert_array_equal(result["tokens"], greedy_tokens)
    # Completion: the same tokens as in Python, and the kept rows are the input's own tokens.
    np.testing.assert_array_equal(result["completed"], greedy_completion)
    kept = KEEP_ROWS * model.grid_size
    np.testing.assert_array_equal(result["completed"][:, :kept], model.image_tokens(pictures_to_complete).numpy()[:, :kept])
    keras_images = model.decode_tokens(greedy_tokens)
    assert np.abs(result["image"].astype(int) - keras_images.astype(int)).max() <= 1
    np.testing.assert_array_equal(result["decoded"], result["image"])
    for index, image in enumerate(result["image"]):
        np.testing.assert_array_equal(np.asarray(Image.open(f"{out}.{index}.png")), image)
    assert result["default_image"].shape == (len(PROMPTS), model.image_size, model.image_size, 3)
    assert (exported / "assets.extra" / "tf_serving_warmup_requests").stat().st_size > 0


def test_saved_model_has_no_xla_ops(exported):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((exported / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert "While" in ops or "StatelessWhile" in ops
    assert not [op for op in ops if op.startswith("Xla")]


@pytest.mark.parametrize(
    "override,message",
    [
        (dict(prompt=["   "]), "prompt must not be empty"),
        (dict(prompt=[b"a red \xff circle"]), "valid UTF-8"),
        (dict(temperature=[0.0]), "temperature"),
        (dict(top_k=[-1]), "top_k"),
        (dict(top_k=[10**6]), "top_k"),
        (dict(top_p=[1.5]), "top_p"),
        (dict(cfg_scale=[-1.0]), "cfg_scale"),
    ],
)
def test_saved_model_rejects_bad_inputs(exported, override, message):
    loaded = tf.saved_model.load(str(exported))
    inputs = dict(prompt=["a red circle"], temperature=[1.0], top_k=[0], top_p=[1.0], cfg_scale=[1.0], seed=[0])
    inputs.update(override)
    dtypes = dict(prompt=tf.string, temperature=tf.float32, top_k=tf.int32, top_p=tf.float32, cfg_scale=tf.float32, seed=tf.int64)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures["generate"](**{k: tf.constant(v, dtypes[k]) for k, v in inputs.items()})
    with pytest.raises(tf.errors.InvalidArgumentError, match="tokens must be"):
        loaded.signatures["decode_tokens"](tokens=tf.fill([1, 16], 10**6))


@pytest.mark.parametrize(
    "image_bytes,keep_rows,message",
    [(b"not a picture", 1, "image"), ("png", 0, "keep_rows must be in"), ("png", "grid", "keep_rows must be in")],
)
def test_saved_model_complete_rejects_bad_inputs(model, exported, pictures_to_complete, image_bytes, keep_rows, message):
    loaded = tf.saved_model.load(str(exported))
    image_bytes = _png(pictures_to_complete[0]) if image_bytes == "png" else image_bytes
    keep_rows = model.grid_size if keep_rows == "grid" else keep_rows
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures["complete"](
            prompt=tf.constant(["a red circle"]), image_bytes=tf.constant([image_bytes]), keep_rows=tf.constant([keep_rows]),
            temperature=tf.constant([1.0]), top_k=tf.constant([0]), top_p=tf.constant([1.0]), cfg_scale=tf.constant([1.0]),
            seed=tf.constant([0], tf.int64),
        )


def _lite_inputs(model, prompt):
    return dict(
        prompt_ids=model.text_tokenizer(tf.constant([prompt])).numpy(),
        noise=np.full((1, model.image_length), 0.5, np.float32),
        temperature=np.array([1.0], np.float32),
        top_k=np.array([1], np.int32),
        top_p=np.array([1.0], np.float32),
        cfg_scale=np.array([model.cfg_scale], np.float32),
    )


def test_tflite_builtin_only_and_matches_keras(model, greedy_tokens, greedy_completion, pictures_to_complete):
    from ai_edge_litert.interpreter import Interpreter

    from helpers import tiny

    scorer = tiny.scorer()
    content = tflite.convert(model, "none", scorer=scorer)  # raises on any non-builtin op (the check is tested below)
    interpreter = Interpreter(model_content=content)
    assert set(interpreter.get_signature_list()) == {"generate", "complete", "decode_tokens", "score"}
    generate = interpreter.get_signature_runner("generate")
    complete = interpreter.get_signature_runner("complete")
    for index, prompt in enumerate(PROMPTS):
        result = generate(**_lite_inputs(model, prompt))
        np.testing.assert_array_equal(result["tokens"][0], greedy_tokens[index])
        completed = complete(
            **_lite_inputs(model, prompt), image=pictures_to_complete[index : index + 1], keep_rows=np.array([KEEP_ROWS], np.int32)
        )
        np.testing.assert_array_equal(completed["tokens"][0], greedy_completion[index])
        keras_image = model.decode_tokens(greedy_tokens[index : index + 1])
        assert np.abs(result["image"].astype(int) - keras_image.astype(int)).max() <= 2
    decoded = interpreter.get_signature_runner("decode_tokens")(tokens=greedy_tokens[:1].astype(np.int32))
    assert decoded["image"].shape == (1, model.image_size, model.image_size, 3) and decoded["image"].dtype == np.uint8
    # The score signature (builtin ops too) rates a picture as the Python scorer does.
    ids = scorer.text_tokenizer(tf.constant(PROMPTS[:1])).numpy()
    score = interpreter.get_signature_runner("score")(image=decoded["image"], prompt_ids=ids)["score"]
    np.testing.assert_allclose(score, scorer.score(decoded["image"], PROMPTS[:1]), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("quantize", ["dynamic", "float16", "int8"])
def test_quantized_tflite_is_builtin_only_and_runs(model, quantize):
    from ai_edge_litert.interpreter import Interpreter

    content = tflite.convert(model, quantize)  # raises on any non-builtin op
    result = Interpreter(model_content=content).get_signature_runner("generate")(**_lite_inputs(model, PROMPTS[0]))
    assert result["image"].dtype == np.uint8 and result["tokens"].shape == (1, model.image_length)
    assert ((result["tokens"] >= 0) & (result["tokens"] < model.codebook_size)).all()
    if quantize == "int8":
        scales = _dense_weight_scale_counts(content)
        assert scales and set(scales) == {1}, "int8 dense weights should have one scale each (smaller file)"
        # The image-token table is a FULLY_CONNECTED weight (scale from the weights, one copy), not
        # a GATHER input (scale from each signature's calibration: one copy per calibrated range).
        table_shape = (model.codebook_size + 1, model.generator.width)
        consumers, copies = _int8_table_uses(content, {table_shape, table_shape[::-1]})
        assert consumers == {("FULLY_CONNECTED", 1)} and copies == 1, (consumers, copies)


def test_custom_ops_finds_the_flex_ops_that_android_cannot_run():
    @tf.function(input_signature=[tf.TensorSpec((2, 2), tf.float32)])
    def determinant(matrix):
        return tf.linalg.det(matrix)  # no TFLite builtin: becomes a Flex op

    converter = tf.lite.TFLiteConverter.from_concrete_functions([determinant.get_concrete_function()], determinant)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    assert tflite.custom_ops(converter.convert()) == ["FlexMatrixDeterminant"]


def _operators(content):
    """(flatbuffer model, subgraph, operator, builtin op name) for every op of a .tflite file, in any subgraph."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    op_names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    names = [op_names[max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())]
             for i in range(model.OperatorCodesLength())]
    for graph in (model.Subgraphs(i) for i in range(model.SubgraphsLength())):
        for op in (graph.Operators(i) for i in range(graph.OperatorsLength())):
            yield model, graph, op, names[op.OpcodeIndex()]


def _dense_weight_scale_counts(content):
    """Number of quantization scales of every FULLY_CONNECTED weight tensor in a .tflite flatbuffer."""
    from tensorflow.lite.python import schema_py_generated as schema

    counts = []
    for _, graph, op, name in _operators(content):
        if name == "FULLY_CONNECTED":
            weights = graph.Tensors(op.Inputs(1))
            if weights.Type() == schema.TensorType.INT8:
                counts.append(weights.Quantization().ScaleLength())
    return counts


def _int8_table_uses(content, shapes):
    """For the int8 constant tensors of the given shapes in a .tflite flatbuffer (any subgraph): the
    set of (op name, input index) that read them, and how many distinct buffers they hold."""
    from tensorflow.lite.python import schema_py_generated as schema

    consumers, buffers = set(), set()
    for model, graph, op, name in _operators(content):
        for position, index in enumerate(op.InputsAsNumpy()):
            tensor = graph.Tensors(index) if index >= 0 else None
            if tensor and tensor.Type() == schema.TensorType.INT8 and tuple(tensor.ShapeAsNumpy()) in shapes:
                consumers.add((name, position))
                buffers.add(model.Buffers(tensor.Buffer()).DataAsNumpy().tobytes())
    return consumers, len(buffers)


def test_onnx_matches_keras(model, greedy_tokens):
    import onnxruntime

    runtime = onnxruntime.InferenceSession(onnx_export.convert(model).SerializeToString())
    assert [i.name for i in runtime.get_inputs()] == list(_lite_inputs(model, PROMPTS[0]))
    assert [o.name for o in runtime.get_outputs()] == ["image", "tokens"]
    for index, prompt in enumerate(PROMPTS):
        image, tokens = runtime.run(None, _lite_inputs(model, prompt))
        np.testing.assert_array_equal(tokens[0], greedy_tokens[index])
        keras_image = model.decode_tokens(greedy_tokens[index : index + 1])
        assert image.dtype == np.uint8 and np.abs(image.astype(int) - keras_image.astype(int)).max() <= 2


RERANK_PROCESS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    assert not any(name.split(".")[0] in ("keras_dalle", "export") for name in sys.modules)
    loaded = tf.saved_model.load(sys.argv[1])
    prompts = json.loads(sys.argv[2])
    rows = lambda v, d: tf.fill([len(prompts)], tf.constant(v, d))
    settings = dict(temperature=rows(1.0, tf.float32), top_k=rows(0, tf.int32), top_p=rows(1.0, tf.float32),
                    cfg_scale=rows(1.5, tf.float32))
    seeds = tf.constant([7, 8], tf.int64)
    best = loaded.signatures["generate_best"](prompt=tf.constant(prompts), seed=seeds,
                                              candidates=tf.constant([1, 3], tf.int32), **settings)
    drawn = [loaded.signatures["generate"](prompt=tf.constant(prompts), seed=seeds + 2 * c, **settings) for c in range(3)]
    scores = [loaded.signatures["score"](image=d["image"], prompt=tf.constant(prompts))["score"].numpy() for d in drawn]
    np.savez(sys.argv[3], best_tokens=best["tokens"].numpy(), best_score=best["score"].numpy(),
             drawn_tokens=np.stack([d["tokens"].numpy() for d in drawn]), drawn_images=np.stack([d["image"].numpy() for d in drawn]),
             scores=np.stack(scores))
    """
)


def test_saved_model_reranks_in_one_call_with_a_scorer(model, tmp_path):
    from export import saved_model
    from helpers import tiny

    scorer = tiny.scorer()
    out = saved_model.export_saved_model(model, tmp_path / "keras_dalle" / "1", scorer=scorer)
    result_path = tmp_path / "rerank.npz"
    subprocess.run([sys.executable, "-c", RERANK_PROCESS, str(out), json.dumps(PROMPTS), str(result_path)], check=True,
                   env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    result = np.load(result_path)
    # Row 0 asked for one candidate: plain generation. Row 1 keeps the best of its three.
    np.testing.assert_array_equal(result["best_tokens"][0], result["drawn_tokens"][0, 0])
    best = int(np.argmax(result["scores"][:, 1]))
    np.testing.assert_array_equal(result["best_tokens"][1], result["drawn_tokens"][best, 1])
    assert result["best_score"][1] == pytest.approx(result["scores"][:, 1].max())
    assert result["best_score"][1] >= result["scores"][0, 1]  # never below candidate 0
    # The served score is the Python scorer's.
    np.testing.assert_allclose(result["scores"][0], scorer.score(result["drawn_images"][0], PROMPTS), atol=1e-5)


def test_models_whose_files_recorded_no_input_shape_export_with_their_scorer(tmp_path):
    """Training once built its models with `build(None)` and the files recorded that (the shipped
    emoji pair among them); a text-to-image model on such a tokenizer, and such a scorer, export."""
    import keras

    from export import saved_model
    from helpers import tiny
    from keras_dalle import presets
    from keras_dalle.models.image_tokenizer import ImageTokenizer
    from keras_dalle.models.scorer import ContrastiveScorer

    keras.utils.set_random_seed(0)
    old_tokenizer = ImageTokenizer(**presets.preset("tiny", "image_tokenizer"))
    old_scorer = ContrastiveScorer(**presets.preset("tiny", "scorer"))
    for old, name in ((old_tokenizer, "tokenizer"), (old_scorer, "scorer")):
        old.build(None)
        old.save(tmp_path / f"{name}.keras")
        assert json.loads(zipfile.ZipFile(tmp_path / f"{name}.keras").read("config.json"))["build_config"] == {"input_shape": None}
    tokenizer = keras.saving.load_model(tmp_path / "tokenizer.keras")
    scorer = keras.saving.load_model(tmp_path / "scorer.keras")
    model = tiny.dalle(image_tokenizer=tokenizer)
    model.build()
    out = saved_model.export_saved_model(model, tmp_path / "keras_dalle" / "1", scorer=scorer)
    assert {"generate", "generate_best", "score"} <= set(tf.saved_model.load(str(out)).signatures)


@pytest.mark.parametrize("name,bad", [("temperature", 0.0), ("top_k", -1), ("top_k", 10**6), ("top_p", 1.5), ("cfg_scale", -1.0)])
def test_python_and_graph_checks_tell_a_bad_setting_the_same(model, name, bad):
    from export import graphs
    from keras_dalle.sampling import SETTING_DTYPES, validate_sampling_arguments

    settings = {**dict(temperature=1.0, top_k=0, top_p=1.0, cfg_scale=1.0), name: bad}
    with pytest.raises(ValueError) as python:
        validate_sampling_arguments(**settings, codebook_size=model.codebook_size)
    with pytest.raises(tf.errors.InvalidArgumentError) as graph:  # eager: the asserts raise at once
        graphs.check_settings(model, **{key: tf.constant([value], SETTING_DTYPES[key]) for key, value in settings.items()})
    said = python.value.args[0].rsplit(", got", 1)[0]
    assert said.startswith(name) and said in graph.value.message
