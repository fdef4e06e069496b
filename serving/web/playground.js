// The keras_dalle playground. It speaks TF Serving's REST API only: the model's metadata (for the
// token grid and whether a `complete` signature exists), `sampling_defaults` (to fill the form),
// then `generate` or `complete` with one row per picture and seeds seed, seed + 1, ...
// Where the server also hands out /web/models.json (the local server with --web does), a menu
// offers every served model; choosing one reloads the page with ?model=NAME.
"use strict";

const model = new URLSearchParams(location.search).get("model") || "keras_dalle";
const modelUrl = `/v1/models/${encodeURIComponent(model)}`;
const MAX_PICTURES = 8;
const $ = (id) => document.getElementById(id);
let imageB64 = null;  // the uploaded picture's bytes, base64, or null

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

function figure(png, seed) {
  const url = `data:image/png;base64,${png}`;
  const item = document.createElement("figure");
  const img = document.createElement("img");
  img.src = url;
  img.alt = `seed ${seed}`;
  const caption = document.createElement("figcaption");
  const label = document.createElement("span");
  label.textContent = `seed ${seed}`;
  const link = document.createElement("a");
  link.href = url;
  link.download = `keras_dalle_seed_${seed}.png`;
  link.textContent = "download";
  caption.append(label, link);
  item.append(img, caption);
  return item;
}

async function generate(event) {
  event.preventDefault();
  showError("");
  let instances;
  try {
    const count = number("count", (v) => parseInt(v, 10));
    if (count < 1 || count > MAX_PICTURES) throw new Error(`pictures must be 1 to ${MAX_PICTURES}`);
    const seed = $("seed").value === "" ? Math.floor(Math.random() * 2 ** 31) : number("seed", (v) => parseInt(v, 10));
    const settings = {
      prompt: $("prompt").value,
      temperature: number("temperature", parseFloat),
      top_k: number("top_k", (v) => parseInt(v, 10)),
      top_p: number("top_p", parseFloat),
      cfg_scale: number("cfg_scale", parseFloat),
    };
    if (imageB64) Object.assign(settings, { image_bytes: { b64: imageB64 }, keep_rows: number("keep_rows", (v) => parseInt(v, 10)) });
    instances = Array.from({ length: count }, (_, i) => ({ ...settings, seed: seed + i }));
  } catch (err) {
    showError(err.message);
    return;
  }
  $("generate").disabled = true;
  $("busy").hidden = false;
  try {
    const started = performance.now();
    const predictions = await predict(imageB64 ? "complete" : "generate", instances);
    $("results").replaceChildren(...predictions.map((row, i) => figure(row.image_bytes.b64, instances[i].seed)));
    $("model-status").textContent = `model ${model}: ${predictions.length} picture(s) in ${((performance.now() - started) / 1000).toFixed(1)} s`;
  } catch (err) {
    showError(err.message);
  } finally {
    $("generate").disabled = false;
    $("busy").hidden = true;
  }
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
