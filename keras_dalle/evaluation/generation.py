"""`keras-dalle evaluate`: caption-checker accuracy of generated pictures on evaluation prompts."""

import collections

from keras_dalle.data.shapes import EVAL_GROUPS
from keras_dalle.evaluation.caption_checker import ATTRIBUTES, check_caption, summarize
from keras_dalle.progress import progress_bar


def generate_in_chunks(model, prompts, num_images=4, seed=0, batch_prompts=32, progress=True, **sampling):
    """Yields (index of the chunk's first prompt, what `model.generate` returns for the chunk) for
    `batch_prompts` prompt strings at a time, since the sampler's key/value cache grows with the rows
    of a call (1.2 MB a row for `small`, twice the pictures with guidance). One progress bar counts
    all pictures and moves with each chunk's image tokens. Picture j of prompt i uses seed + i *
    num_images + j, as one `generate` call of every prompt would. `sampling`: anything else
    `generate` takes (settings, candidates and scorer, return_scores, one completion image for all)."""
    with progress_bar(total=len(prompts) * num_images, desc="generating", unit="img", disable=not progress) as bar:
        for start in range(0, len(prompts), batch_prompts):
            chunk = prompts[start : start + batch_prompts]
            done, count = start * num_images, len(chunk) * num_images

            def on_token(step, steps):
                bar.update(done + count * step / steps - bar.n)

            yield start, model.generate(chunk, num_images=num_images, seed=seed + done, on_token=on_token, **sampling)


def evaluate_model(model, prompts, num_images=4, seed=0, batch_prompts=32, progress=True, **sampling):
    """Generates `num_images` pictures per prompt and checks each against its prompt.

    Args:
        model: a `KerasDALLE`.
        prompts: `EvalPrompt`s (prompt text and group).
        num_images: pictures per prompt; picture j of prompt i uses seed + i * num_images + j.
        sampling: temperature, top_k, top_p, cfg_scale overrides.

    Returns {group: {"pictures": n, "all": fraction with every attribute right, attribute: fraction}}
    for each group present (the built-in groups first, in `EVAL_GROUPS` order, then any other
    group a caller named, in prompt order) and "overall".
    """
    results = collections.defaultdict(list)  # group -> list of CheckResult
    texts = [item.prompt for item in prompts]
    for start, pictures in generate_in_chunks(model, texts, num_images, seed, batch_prompts, progress, **sampling):
        for index, picture in enumerate(pictures):
            item = prompts[start + index // num_images]
            result = check_caption(picture, item.prompt)
            results[item.group].append(result)
            results["overall"].append(result)
    named = dict.fromkeys(item.group for item in prompts)
    groups = [g for g in EVAL_GROUPS if g in named] + [g for g in named if g not in EVAL_GROUPS]
    return {
        group: {"pictures": len(results[group]), **summarize(results[group])}
        for group in (*groups, "overall")
        if results[group]
    }


def format_table(summary):
    """A text table of `evaluate_model`'s result: one row per group, one column per attribute."""
    width = max([12, *(len(group) for group in summary)])  # callers may name longer groups
    header = f"{'group':{width}} {'pictures':>8} {'all':>7} " + " ".join(f"{a:>8}" for a in ATTRIBUTES)
    lines = [header, "-" * len(header)]
    for group, row in summary.items():
        cells = " ".join(f"{row[a]:8.1%}" if a in row else f"{'-':>8}" for a in ATTRIBUTES)
        lines.append(f"{group:{width}} {row['pictures']:8d} {row['all']:7.1%} {cells}")
    return "\n".join(lines)
