"""Train the text-to-image generator of a shapes model on a GPU machine that has JAX but no TensorFlow.

Why this exists: the GPU machines this project can borrow carry JAX and no TensorFlow, and
TensorFlow is far too large to bring along. The text encoder and generator are plain Keras 3
layers (keras.ops only), so they run unchanged on Keras's JAX backend; the frozen image
tokenizer and the byte tokenizer use TensorFlow ops, so tokenizing happens here, ahead of time.
Three steps:

1. `prepare` (here, TensorFlow): draw shapes samples 0..N-1 of seed 0 (the samples
   `keras-dalle train --data shapes` trains on, held-out pairs excluded), tokenize captions
   and pictures with the shipped image tokenizer, and write `tokens.npz.xz`.
2. `train` (the GPU machine, `KERAS_BACKEND=jax`): the same loss as `KerasDALLE.train_step`
   with `adversarial_weight 0` (teacher-forced cross-entropy, caption dropout 0.1) and the same
   optimizer as the CLI (AdamW 0.9/0.99, weight decay 0.01, clip-norm 1, warmup-cosine), for a
   fixed wall-clock budget; writes the weights by variable path to `weights.npz` and a log.
3. `import` (here): builds the `small` `KerasDALLE` around the image tokenizer, loads the
   weights (every path and shape must match) and saves a `.keras` file, ready for
   `keras-dalle package-model` and `bench/generation_quality.py`.

Usage:
    python bench/jax_generator.py prepare --tokenizer runs/shapes_tokenizer.keras --num 1000000 --out runs/jax/tokens.npz.xz
    KERAS_BACKEND=jax python bench/jax_generator.py train --tokens tokens.npz.xz --minutes 7 --out OUT
    python bench/jax_generator.py import --tokenizer runs/shapes_tokenizer.keras --weights OUT/weights.npz --out runs/jax/model.keras
"""

import argparse
import io
import json
import lzma
import os
import sys
import time

import numpy as np

PRESET = "small"
VALIDATION_SAMPLES = 8192


def prepare(args):
    """Shapes samples -> caption ids [N, L] uint8 and image tokens [N, T] uint16, plus a validation slice after them."""
    import tensorflow as tf

    import keras_dalle  # noqa: F401  (selects the TensorFlow backend)
    from keras_dalle import presets
    from keras_dalle.data import shapes
    from keras_dalle.models.image_tokenizer import ImageTokenizer
    from keras_dalle.pretrained import load_keras_file
    from keras_dalle.progress import progress_bar
    from keras_dalle.text.byte_tokenizer import ByteTokenizer

    tokenizer = load_keras_file(args.tokenizer, ImageTokenizer)
    text_tokenizer = ByteTokenizer(presets.preset(PRESET, "text_to_image")["text_length"])
    encode = tf.function(lambda images: tokenizer.encode(images), jit_compile=True)
    total = args.num + VALIDATION_SAMPLES
    caption_ids = np.zeros((total, text_tokenizer.max_length), np.uint8)
    image_tokens = np.zeros((total, tokenizer.grid_size**2), np.uint16)
    with progress_bar(total=total, desc="tokenizing shapes samples") as bar:
        for start in range(0, total, args.chunk):
            stop = min(total, start + args.chunk)
            samples = [shapes.make_sample(0, index) for index in range(start, stop)]
            ids = text_tokenizer(tf.constant([s.caption for s in samples])).numpy()
            if ids.max() > 255:
                raise ValueError("shapes captions are ASCII; a caption id above 255 means the tokenizer changed")
            caption_ids[start:stop] = ids
            codes = encode(np.stack([s.image for s in samples])).numpy()
            image_tokens[start:stop] = codes.reshape(stop - start, -1)
            bar.update(stop - start)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, caption_ids=caption_ids, image_tokens=image_tokens, validation=VALIDATION_SAMPLES)
    with lzma.open(args.out, "wb") as f:  # half the size of savez_compressed: the file must travel to the GPU machine
        f.write(buffer.getvalue())
    print(f"wrote {args.out}: {args.num} training + {VALIDATION_SAMPLES} validation samples, "
          f"{os.path.getsize(args.out) / 2**20:.1f} MiB")


def _import_layers_without_tensorflow():
    """The text encoder and generator modules, imported on a machine without TensorFlow.

    `keras_dalle.layers.masks` takes PAD_ID from the byte tokenizer's module, which imports
    TensorFlow at the top; nothing on this path calls TensorFlow, so empty stand-in modules do.
    """
    import types

    for name in ("tensorflow", "tensorflow_text"):
        if name not in sys.modules:
            try:
                __import__(name)
            except ImportError:
                sys.modules[name] = types.ModuleType(name)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_dalle.models.text_to_image import Generator, TextEncoder
    from keras_dalle.layers.masks import padding_mask
    from keras_dalle.text.byte_tokenizer import NULL_ID, PAD_ID, VOCAB_SIZE

    return TextEncoder, Generator, padding_mask, (NULL_ID, PAD_ID, VOCAB_SIZE)


def build_layers(codebook_size, image_length, config):
    """The text encoder and generator as `KerasDALLE` builds them (same names, so the same variable paths)."""
    TextEncoder, Generator, _, (_, _, vocab_size) = _import_layers_without_tensorflow()
    text_encoder = TextEncoder(
        vocab_size, config["text_length"], config["text_width"], config["text_layers"], config["text_heads"],
        config.get("dropout", 0.0), name="text_encoder",
    )
    generator = Generator(
        codebook_size, config["text_length"], image_length, config["width"], config["generator_layers"],
        config["generator_heads"], config.get("dropout", 0.0),
        image_grid_positions=config["image_grid_positions"], name="generator",
    )
    return text_encoder, generator


def train(args):
    """Trains on the GPU with Keras on JAX; many steps per compiled call (lax.scan), the data on the device."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    import jax.numpy as jnp
    import keras
    import optax

    if keras.backend.backend() != "jax":
        raise SystemExit("train runs on Keras's JAX backend: set KERAS_BACKEND=jax")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_dalle import presets

    _, _, padding_mask, (null_id, pad_id, _) = _import_layers_without_tensorflow()
    config = presets.preset(PRESET, "text_to_image")
    with lzma.open(args.tokens) as f:
        data = np.load(io.BytesIO(f.read()))
    validation = int(data["validation"])
    caption_ids = jnp.asarray(data["caption_ids"].astype(np.int32))
    image_tokens = jnp.asarray(data["image_tokens"].astype(np.int32))
    num_train = caption_ids.shape[0] - validation
    image_length = image_tokens.shape[1]
    codebook_size = args.codebook_size
    text_encoder, generator = build_layers(codebook_size, image_length, config)
    text_encoder(keras.ops.zeros((1, config["text_length"]), "int32"))
    generator(
        keras.ops.zeros((1, config["text_length"], config["text_width"])),
        keras.ops.ones((1, config["text_length"]), "bool"),
        keras.ops.zeros((1, image_length), "int32"),
    )
    layers = (text_encoder, generator)
    params = [[v.value for v in layer.trainable_variables] for layer in layers]
    frozen = [[v.value for v in layer.non_trainable_variables] for layer in layers]
    print(f"devices {jax.devices()}; {num_train} training samples; "
          f"{sum(int(np.prod(p.shape)) for group in params for p in group):,} parameters", flush=True)

    null_row = jnp.zeros((config["text_length"],), jnp.int32).at[0].set(null_id)
    peak = presets.learning_rate(PRESET, "text_to_image") * args.learning_rate_scale

    def forward(params, ids, tokens):
        states, _ = text_encoder.stateless_call(params[0], frozen[0], ids, training=True)
        logits, _ = generator.stateless_call(params[1], frozen[1], states, padding_mask(ids), tokens, training=True)
        return logits  # (B, N, K)

    def loss_fn(params, ids, tokens):
        logits = forward(params, ids, tokens).astype(jnp.float32)
        cross_entropy = optax.softmax_cross_entropy_with_integer_labels(logits, tokens).mean()
        accuracy = (jnp.argmax(logits, -1) == tokens).mean()
        return cross_entropy, accuracy

    def schedule(step, total_steps):
        warmup = jnp.maximum(1.0, 0.05 * total_steps)
        progress = jnp.clip((step - warmup) / jnp.maximum(1.0, total_steps - warmup), 0.0, 1.0)
        cosine = 0.05 + 0.95 * 0.5 * (1 + jnp.cos(jnp.pi * progress))
        return peak * jnp.where(step < warmup, step / warmup, cosine)

    adam = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.scale_by_adam(b1=0.9, b2=0.99, eps=1e-7),
    )

    def one_step(carry, key):
        params, opt_state, step, total_steps = carry
        pick_key, drop_key = jax.random.split(key)
        index = jax.random.randint(pick_key, (args.batch_size,), 0, num_train)
        ids = caption_ids[index]
        dropped = jax.random.uniform(drop_key, (args.batch_size,)) < args.caption_dropout
        ids = jnp.where(dropped[:, None], null_row[None, :], ids)
        tokens = image_tokens[index]
        (cross_entropy, accuracy), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, ids, tokens)
        updates, opt_state = adam.update(grads, opt_state, params)
        rate = schedule(step.astype(jnp.float32), total_steps)
        # AdamW as keras.optimizers.AdamW: decoupled decay lr * wd * w, then the Adam step
        params = jax.tree_util.tree_map(lambda p, u: p - rate * (u + args.weight_decay * p), params, updates)
        return (params, opt_state, step + 1, total_steps), (cross_entropy, accuracy)

    @jax.jit
    def run_steps(params, opt_state, step, total_steps, key):
        keys = jax.random.split(key, args.steps_per_call)
        (params, opt_state, step, _), (losses, accuracies) = jax.lax.scan(
            one_step, (params, opt_state, step, total_steps), keys
        )
        return params, opt_state, step, losses.mean(), accuracies.mean()

    @jax.jit
    def evaluate(params, ids, tokens):
        logits = forward(params, ids, tokens).astype(jnp.float32)
        return optax.softmax_cross_entropy_with_integer_labels(logits, tokens).mean(), (jnp.argmax(logits, -1) == tokens).mean()

    def validation_loss(params):
        results = [
            evaluate(params, caption_ids[start:start + 1024], image_tokens[start:start + 1024])
            for start in range(num_train, num_train + validation, 1024)
        ]
        return tuple(float(np.mean([r[i] for r in results])) for i in range(2))

    opt_state = adam.init(params)
    key = jax.random.PRNGKey(args.seed)
    step = jnp.zeros((), jnp.int32)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "train_log.jsonl"), "w")
    # Time the compiled call first; then fix the schedule's length to what fits the budget.
    key, sub = jax.random.split(key)
    started = time.time()
    trial = run_steps(params, opt_state, step, jnp.float32(1e9), sub)
    jax.block_until_ready(trial)
    compile_s = time.time() - started
    started = time.time()
    jax.block_until_ready(run_steps(params, opt_state, step, jnp.float32(1e9), sub))
    call_s = time.time() - started
    calls = max(1, int((args.minutes * 60 - compile_s - 2 * call_s) / call_s * 0.92))
    total_steps = calls * args.steps_per_call
    print(f"compile {compile_s:.1f} s, {call_s / args.steps_per_call * 1000:.2f} ms/step at batch {args.batch_size}; "
          f"training {total_steps} steps ({total_steps * args.batch_size / num_train:.1f} epochs)", flush=True)
    best = {"val_cross_entropy": float("inf"), "params": None, "step": None}
    started = time.time()

    def record(loss, accuracy):
        val_loss, val_accuracy = validation_loss(params)
        entry = dict(step=int(step), seconds=round(time.time() - started, 1), cross_entropy=float(loss),
                     token_accuracy=float(accuracy), val_cross_entropy=val_loss, val_token_accuracy=val_accuracy)
        log.write(json.dumps(entry) + "\n")
        log.flush()
        print(json.dumps(entry), flush=True)
        if val_loss < best["val_cross_entropy"]:
            best.update(val_cross_entropy=val_loss, params=jax.device_get(params), step=int(step))

    for call in range(calls):
        if time.time() - started > args.minutes * 60:
            print(f"out of time after {int(step)} of {total_steps} steps; keeping what there is", flush=True)
            break
        key, sub = jax.random.split(key)
        params, opt_state, step, loss, accuracy = run_steps(params, opt_state, step, jnp.float32(total_steps), sub)
        if (call + 1) % args.eval_every == 0:
            record(loss, accuracy)
    if best["step"] != int(step):
        record(loss, accuracy)
    log.close()
    weights = {}
    for layer, values in zip(layers, best["params"]):
        for variable, value in zip(layer.trainable_variables, values):
            weights[variable.path] = np.asarray(value)
        for variable in layer.non_trainable_variables:
            weights[variable.path] = np.asarray(variable.value)
    np.savez(os.path.join(args.out, "weights.npz"), **weights)
    with open(os.path.join(args.out, "run.json"), "w") as f:
        json.dump(dict({k: v for k, v in vars(args).items() if k != "run"}, total_steps=total_steps, steps_run=int(step), best_step=best["step"],
                       best_val_cross_entropy=best["val_cross_entropy"], preset=PRESET), f, indent=1)
    print(f"saved the best validation checkpoint (step {best['step']}, cross-entropy "
          f"{best['val_cross_entropy']:.4f}) to {args.out}/weights.npz")


def import_weights(args):
    """Builds the `small` KerasDALLE around the image tokenizer and loads the JAX-trained weights by path."""
    import keras_dalle  # noqa: F401
    from keras_dalle import presets
    from keras_dalle.models.dalle import KerasDALLE
    from keras_dalle.models.image_tokenizer import ImageTokenizer
    from keras_dalle.pretrained import load_keras_file

    tokenizer = load_keras_file(args.tokenizer, ImageTokenizer)
    config = presets.preset(PRESET, "text_to_image")
    model = KerasDALLE(tokenizer, **config, adversarial_weight=0.0)
    model.build()
    weights = dict(np.load(args.weights))
    # Paths below the model: the JAX run has no KerasDALLE around the two layers.
    targets = {v.path.removeprefix(model.name + "/"): v for v in model.text_encoder.weights + model.generator.weights}
    if sorted(targets) != sorted(weights):
        differing = sorted(set(targets) ^ set(weights))
        raise ValueError(f"weight paths differ between the JAX run and this model: {differing[:8]}")
    for path, variable in targets.items():
        value = weights[path]
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{variable.path}: shape {value.shape} in the file, {tuple(variable.shape)} here")
        variable.assign(value)
    model.save(args.out)
    print(f"wrote {args.out} ({len(targets)} variables loaded)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="tokenize shapes samples (TensorFlow)")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--num", type=int, default=1_000_000)
    p.add_argument("--chunk", type=int, default=8192)
    p.add_argument("--out", required=True)
    p.set_defaults(run=prepare)
    p = commands.add_parser("train", help="train on Keras's JAX backend (GPU)")
    p.add_argument("--tokens", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=7.0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--learning-rate-scale", type=float, default=1.0)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--caption-dropout", type=float, default=0.1)
    p.add_argument("--codebook-size", type=int, default=512)
    p.add_argument("--steps-per-call", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=10, help="compiled calls between validation passes")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=train)
    p = commands.add_parser("import", help="load the weights into a KerasDALLE and save it (TensorFlow)")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(run=import_weights)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
