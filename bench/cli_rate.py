"""What a command-line user waits for: `keras-dalle generate --prompts FILE --num N` with the shipped
model, end to end and in parts, against the sampler alone drawing the same pictures.

`python -m bench.cli_rate [--prompts 16] [--num 4] [--repeats 3]`

Every row is measured in fresh processes, in turn, `--repeats` times (the best of each is printed):
- "CLI": the command as users run it (`keras-dalle generate --prompts FILE --num N --out DIR
  --seed 0`, the shipped model, its default sampling), wall seconds from start to exit;
- "parts": the same work, timed inside one process: importing TensorFlow and keras_dalle, loading
  the shipped model, the first `generate` (tracing and compiling the sampler, then the pictures),
  writing the PNGs, and then, warm, a second `generate` of the same prompts and the sampler alone
  (`sampler.generate` from prepared ids and noise: tokens only) for the same rows.

The shares: warm `generate` over the sampler alone (what `python -m bench.user_path_rate` measures
at other shapes), and the CLI's whole time less its PNG writing over the sampler alone: what one
picture costs a command-line user against what the sampler needs for it. Prompts are the built-in
shapes captions of seed 0.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time


def parts(prompts_file, num, out):
    """Seconds of each part of a CLI generate call, in this process: a dict."""
    start = time.perf_counter()
    import tensorflow as tf

    import keras_dalle  # noqa: F401
    from keras_dalle.cli.common import load_model
    from keras_dalle.data import sources
    from keras_dalle.models.generation import row_seeds
    from keras_dalle.sampling.runtime import compiled_noise_from_seeds

    seconds = {"import": time.perf_counter() - start}
    start = time.perf_counter()
    model = load_model(None)
    seconds["load"] = time.perf_counter() - start
    prompts = sources.read_prompts(prompts_file)

    def generate():
        return model.generate(prompts, num_images=num, seed=0)

    start = time.perf_counter()
    pictures = generate()
    seconds["first generate"] = time.perf_counter() - start
    from PIL import Image

    start = time.perf_counter()
    for index, picture in enumerate(pictures):
        Image.fromarray(picture).save(pathlib.Path(out) / f"{index:05d}.png")
    seconds["PNG writing"] = time.perf_counter() - start
    start = time.perf_counter()
    generate()
    seconds["warm generate"] = time.perf_counter() - start
    ids = tf.repeat(model.text_tokenizer(tf.constant(prompts)), num, axis=0)
    noise = compiled_noise_from_seeds(tf.constant(row_seeds(0, len(ids))), model.image_length)
    settings = [model.sampling_defaults()[name] for name in ("temperature", "top_k", "top_p", "cfg_scale")]
    model.sampler.generate(ids, noise, *settings).numpy()  # its own compile, if the settings differ
    start = time.perf_counter()
    model.sampler.generate(ids, noise, *settings).numpy()
    seconds["sampler alone"] = time.perf_counter() - start
    return seconds


def cli_seconds(prompts_file, num, out):
    """Wall seconds of `keras-dalle generate --prompts FILE --num N` in a fresh process."""
    command = [str(pathlib.Path(sys.executable).parent / "keras-dalle"), "generate", "--prompts", str(prompts_file),
               "--num", str(num), "--out", str(out), "--seed", "0"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16, help="how many prompts the file holds")
    parser.add_argument("--num", type=int, default=4, help="pictures per prompt")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("PROMPTS_FILE", "NUM", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(parts(args.child[0], int(args.child[1]), args.child[2])))
        return
    from keras_dalle.data import shapes

    with tempfile.TemporaryDirectory() as folder:
        prompts_file = pathlib.Path(folder) / "prompts.txt"
        _, captions = shapes.generate_shapes(args.prompts, seed=0)
        prompts_file.write_text("\n".join(captions) + "\n", encoding="utf-8")
        runs = {"CLI": [], "parts": []}
        for repeat in range(args.repeats):
            out = pathlib.Path(folder) / f"out_{repeat}"
            out.mkdir()
            runs["CLI"].append(cli_seconds(prompts_file, args.num, out / "cli"))
            result = subprocess.run([sys.executable, "-m", "bench.cli_rate", "--child", str(prompts_file), str(args.num), str(out)],
                                    check=True, capture_output=True, text=True)
            runs["parts"].append(json.loads(result.stdout.strip().splitlines()[-1]))
            print(f"round {repeat + 1}: CLI {runs['CLI'][-1]:.2f} s, parts {runs['parts'][-1]}", flush=True)
    pictures = args.prompts * args.num
    best = {"CLI": min(runs["CLI"])}
    best.update({name: min(run[name] for run in runs["parts"]) for name in runs["parts"][0]})
    print(f"\n{pictures} pictures ({args.prompts} prompts x {args.num}), the shipped model, best of {args.repeats} fresh processes")
    print(f"{'part':16} {'seconds':>8} {'ms a picture':>12}")
    for name, seconds in best.items():
        print(f"{name:16} {seconds:8.2f} {1000 * seconds / pictures:12.1f}")
    sampler = best["sampler alone"]
    print(f"\nwarm generate / sampler alone: {sampler / best['warm generate']:.2f} of the sampler's rate")
    print(f"CLI less PNG writing / sampler alone: {sampler / (best['CLI'] - best['PNG writing']):.2f} of the sampler's rate")


if __name__ == "__main__":
    main()
