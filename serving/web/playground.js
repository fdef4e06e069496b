// The keras_dalle playground. It speaks TF Serving's REST API only: the model's metadata (for the
// token grid and whether a `complete` signature exists), `sampling_defaults` (to fill the form),
// then `generate` or `complete` with one row per picture and seeds seed, seed + 1, ...
// A model with a `vary` signature (an unCLIP decoder) also gets "variations" and "edit" under each
// picture: `vary` draws more pictures from that picture's embedding (seeds seed, seed + 1, ...);
// `edit` turns it from the picture's prompt (or the "from" box) toward the "to" box's caption by
// the amounts 0.1 .. 0.5, every amount with the picture's own seed. With "best of" above 1 they
// call `vary_best` / `edit_best`: each picture shown is the best of that many by the decoder's scorer.
// Where the server also hands out /web/models.json (the local server with --web does), a menu
// offers every served model; choosing one reloads the page with ?model=NAME.
"use strict";

const model = new URLSearchParams(location.search).get("model") || "keras_dalle";
const modelUrl = `/v1/models/${encodeURIComponent(model)}`;
const MAX_PICTURES = 8;
const $ = (id) => document.getElementById(id);
let imageB64 = null;  // the uploaded picture's bytes, base64, or null
let canVary = false;  // the model has `vary` and `edit` signatures (an unCLIP decoder)
const EDIT_AMOUNTS = [0.1, 0.2, 0.3, 0.4, 0.5];

async function call(url, body) {
  const reply = await fetch(url, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  let payload;
  try {
    payload = await reply.json();
  } catch (err) {
    throw new Error(`the server answered HTTP ${reply.status} without JSON`);
  }
  if (!reply.ok || payload.error) throw new Error(payload.error || `HTTP ${reply.status}`);
  return payload;
}

const predict = async (signature, instances) =>
  (await call(`${modelUrl}:predict`, { signature_name: signature, instances })).predictions;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function number(id, parse) {
  const value = parse($(id).value);
  if (Number.isNaN(value)) throw new Error(`${id.replace("_", "-")} must be a number`);
  return value;
}

async function offerModels() {
  let names = [];
  try {
    names = (await call("/web/models.json")).models;
  } catch (err) {
    // a server without the list (TF Serving behind a proxy): ?model= alone chooses
  }
  document.body.dataset.models = Array.isArray(names) ? names.length : 0;
  if (!Array.isArray(names) || names.length < 2) return;
  const menu = $("model");
  menu.replaceChildren(...names.map((name) => new Option(name, name, false, name === model)));
  menu.addEventListener("change", () => {
    const query = new URLSearchParams(location.search);
    query.set("model", menu.value);
    location.search = query.toString();
  });
  $("model-choice").hidden = false;
}

async function start() {
  offerModels();
  try {
    const signatures = (await call(`${modelUrl}/metadata`)).metadata.signature_def.signatureDef;
    const tokens = Number(signatures.decode_tokens.inputs.tokens.tensorShape.dim[1].size);
    const rows = Math.round(Math.sqrt(tokens));
    $("keep_rows").max = rows - 1;
    $("keep_rows").value = Math.floor(rows / 2);
    $("completion").disabled = !("complete" in signatures);
    canVary = "vary" in signatures && "edit" in signatures;
    $("edit-settings").hidden = !canVary;
    $("candidates").closest("label").hidden = !("vary_best" in signatures && "edit_best" in signatures);
    const [defaults] = await predict("sampling_defaults", ["defaults"]);
    // float32 defaults arrive as e.g. 0.800000011920929: show them as the model's author wrote them.
    for (const name of ["temperature", "top_k", "top_p", "cfg_scale"]) $(name).value = Number(defaults[name].toPrecision(6));
    $("model-status").textContent = `model ${model}: ${rows} x ${rows} token grid`;
    document.body.dataset.ready = "true";
  } catch (err) {
    $("model-status").textContent = `model ${model}: not reachable`;
    showError(err.message);
  }
}

function figure(png, seed, prompt, label = `seed ${seed}`) {
  const url = `data:image/png;base64,${png}`;
  const item = document.createElement("figure");
  const img = document.createElement("img");
  img.src = url;
  img.alt = label;
  const caption = document.createElement("figcaption");
  const text = document.createElement("span");
  text.textContent = label;
  const link = document.createElement("a");
  link.href = url;
  link.download = `keras_dalle_${label.replace(/[^a-z0-9.]+/gi, "_")}.png`;
  link.textContent = "download";
  caption.append(text, link);
  item.append(img, caption);
  if (canVary) {
    const actions = document.createElement("div");
    actions.className = "actions";
    const action = (name, run) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = name;
      button.className = name;
      button.addEventListener("click", () => run(png, seed, prompt));
      return button;
    };
    actions.append(action("variations", vary), action("edit", edit));
    item.append(actions);
  }
  return item;
}

function settings() {
  return {
    temperature: number("temperature", parseFloat),
    top_k: number("top_k", (v) => parseInt(v, 10)),
    top_p: number("top_p", parseFloat),
    cfg_scale: number("cfg_scale", parseFloat),
  };
}

// Runs one Predict and shows its pictures (labels[i] under picture i), or the error.
async function draw(signature, instances, labels, prompt) {
  $("generate").disabled = true;
  $("busy").hidden = false;
  try {
    const started = performance.now();
    const predictions = await predict(signature, instances);
    $("results").replaceChildren(...predictions.map((row, i) => figure(row.image_bytes.b64, instances[i].seed, prompt, labels[i])));
    $("model-status").textContent = `model ${model}: ${predictions.length} picture(s) in ${((performance.now() - started) / 1000).toFixed(1)} s`;
  } catch (err) {
    showError(err.message);
  } finally {
    $("generate").disabled = false;
    $("busy").hidden = true;
  }
}

// The signature of a decoder operation and what each label adds: `vary` / `edit`, or with "best
// of" N > 1 their reranking twins `vary_best` / `edit_best`, every row taking candidates N.
function reranked(operation, instances) {
  const candidates = number("candidates", (v) => parseInt(v, 10));
  if (candidates < 1 || candidates > MAX_PICTURES) throw new Error(`best of must be 1 to ${MAX_PICTURES}`);
  if (candidates === 1) return [operation, instances, ""];
  return [`${operation}_best`, instances.map((row) => ({ ...row, candidates })), `, best of ${candidates}`];
}

async function vary(png, seed, prompt) {
  showError("");
  let signature, instances, suffix;
  try {
    const count = number("count", (v) => parseInt(v, 10));
    if (count < 1 || count > MAX_PICTURES) throw new Error(`pictures must be 1 to ${MAX_PICTURES}`);
    const shared = { image_bytes: { b64: png }, ...settings() };
    [signature, instances, suffix] = reranked("vary", Array.from({ length: count }, (_, i) => ({ ...shared, seed: seed + 1 + i })));
  } catch (err) {
    showError(err.message);
    return;
  }
  await draw(signature, instances, instances.map((row) => `variation, seed ${row.seed}${suffix}`), prompt);
}

async function edit(png, seed, prompt) {
  showError("");
  let signature, instances, suffix;
  try {
    const from = $("edit_from").value.trim() || prompt;
    const to = $("edit_to").value.trim();
    if (!to) throw new Error("write what the picture should show in the edit's \"to\" box");
    if (!from) throw new Error("write what the picture shows in the edit's \"from\" box");
    const shared = { image_bytes: { b64: png }, from_caption: from, to_caption: to, seed, ...settings() };
    [signature, instances, suffix] = reranked("edit", EDIT_AMOUNTS.map((amount) => ({ ...shared, amount })));
  } catch (err) {
    showError(err.message);
    return;
  }
  await draw(signature, instances, EDIT_AMOUNTS.map((amount) => `edit ${amount}, seed ${seed}${suffix}`), prompt);
}

async function generate(event) {
  event.preventDefault();
  showError("");
  let instances;
  try {
    const count = number("count", (v) => parseInt(v, 10));
    if (count < 1 || count > MAX_PICTURES) throw new Error(`pictures must be 1 to ${MAX_PICTURES}`);
    const seed = $("seed").value === "" ? Math.floor(Math.random() * 2 ** 31) : number("seed", (v) => parseInt(v, 10));
    const shared = { prompt: $("prompt").value, ...settings() };
    if (imageB64) Object.assign(shared, { image_bytes: { b64: imageB64 }, keep_rows: number("keep_rows", (v) => parseInt(v, 10)) });
    instances = Array.from({ length: count }, (_, i) => ({ ...shared, seed: seed + i }));
  } catch (err) {
    showError(err.message);
    return;
  }
  await draw(imageB64 ? "complete" : "generate", instances, instances.map((row) => `seed ${row.seed}`), $("prompt").value);
}

function chooseImage() {
  const file = $("image").files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    imageB64 = reader.result.slice(reader.result.indexOf(",") + 1);
    $("image-preview").src = reader.result;
    $("image-preview").hidden = $("clear-image").hidden = false;
  };
  reader.onerror = () => showError(`could not read ${file.name}`);
  reader.readAsDataURL(file);
}

function clearImage() {
  imageB64 = null;
  $("image").value = "";
  $("image-preview").hidden = $("clear-image").hidden = true;
}

$("controls").addEventListener("submit", generate);
$("image").addEventListener("change", chooseImage);
$("clear-image").addEventListener("click", clearImage);
start();
