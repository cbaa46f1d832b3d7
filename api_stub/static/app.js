// palette-worker web page: plain JS, no build step, no framework.
//
// Flow per file: POST /uploads (a presigned POST policy, with the chosen k) -> post the
// file straight to the bucket as a form -> long-poll GET /palettes/{key}?wait=N (the
// answer comes the moment the worker stores the result; 202 after N s: ask again) ->
// render. Gallery cards show the source image through the presigned GET the listing
// hands out (image_url); it needs no token of its own.
// Nothing user-controlled is ever parsed as HTML: every string goes in via textContent.
//
// Access: on loopback the api_stub answers everyone. Beyond loopback it answers 401
// without its token: the first 401 opens the token dialog, the token is kept in this
// tab's sessionStorage and sent as "Authorization: Bearer" to the api_stub only (never
// to the bucket). Every call to the api_stub goes through apiFetch, every image it
// serves through showImage (an <img src> cannot carry the header).
"use strict";

const LONG_POLL_S = 25;
const RETRY_FIRST_MS = 400;
const RETRY_MAX_MS = 3000;
const POLL_GIVE_UP_MS = 3 * 60 * 1000;
const COPIED_MS = 1600;
const GALLERY_PAGE = 12;

const TYPES_BY_EXTENSION = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", gif: "image/gif",
  webp: "image/webp", tif: "image/tiff", tiff: "image/tiff", bmp: "image/bmp",
  avif: "image/avif",
};

const $ = (id) => document.getElementById(id);

// --- access token ------------------------------------------------------------------------

const TOKEN_KEY = "palette-api-token";
let tokenRequest = null; // one dialog, however many requests got a 401 at once

const storedToken = () => sessionStorage.getItem(TOKEN_KEY);

function withToken(headers = {}) {
  const token = storedToken();
  return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
}

/** fetch() to the api_stub; on 401, ask for the token (once) and send the request again. */
async function apiFetch(url, options = {}) {
  for (;;) {
    const sent = storedToken();
    const response = await fetch(url, { ...options, headers: withToken(options.headers) });
    if (response.status !== 401) return response;
    // Another request may have got the token meanwhile: then just send this one again.
    if (storedToken() === sent) await askForToken(sent !== null);
  }
}

/** Show the token dialog; resolves once a token is stored, rejects when dismissed. */
function askForToken(refused) {
  if (!tokenRequest) {
    tokenRequest = new Promise((resolve, reject) => {
      const dialog = $("token-dialog");
      const form = $("token-form");
      const input = $("token-input");
      $("token-message").textContent = refused
        ? "That token was refused. Check it and try again."
        : "This server asks for an access token (PALETTE_API_TOKEN).";
      const finish = (ok) => {
        form.removeEventListener("submit", submitted);
        dialog.removeEventListener("cancel", cancelled);
        $("token-cancel").removeEventListener("click", cancelled);
        input.value = "";
        dialog.close();
        tokenRequest = null;
        if (ok) resolve();
        else reject(new Error("an access token is needed (PALETTE_API_TOKEN)."));
      };
      const submitted = (event) => {
        event.preventDefault();
        const token = input.value.trim();
        if (!token) return;
        sessionStorage.setItem(TOKEN_KEY, token);
        finish(true);
      };
      const cancelled = (event) => {
        event.preventDefault();
        finish(false);
      };
      form.addEventListener("submit", submitted);
      dialog.addEventListener("cancel", cancelled);
      $("token-cancel").addEventListener("click", cancelled);
      dialog.showModal();
      input.focus();
    });
  }
  return tokenRequest;
}

/** Point an <img> at an api_stub image: directly while no token is needed, else fetched
 * with the token and shown from a blob: URL. */
async function showImage(img, url) {
  if (!storedToken()) {
    img.src = url;
    return;
  }
  try {
    const response = await apiFetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const blobUrl = URL.createObjectURL(await response.blob());
    img.addEventListener("load", () => URL.revokeObjectURL(blobUrl), { once: true });
    img.src = blobUrl;
  } catch {
    img.dispatchEvent(new Event("error"));
  }
}

/** Build an element: el("p", {className: "x"}, "text", child, ...). */
function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Object keys may hold any character: encode each path segment, keep the slashes. */
const keyPath = (key) => key.split("/").map(encodeURIComponent).join("/");

function announce(message) {
  $("status").textContent = message;
}

// --- uploading ---------------------------------------------------------------------------

function contentTypeOf(file) {
  if (file.type) return file.type;
  const extension = file.name.split(".").pop().toLowerCase();
  return TYPES_BY_EXTENSION[extension] || "application/octet-stream";
}

/** The k chooser's value as the API takes it: a number, "auto", or nothing (default). */
function chosenK() {
  const value = $("k-select").value;
  if (!value) return undefined;
  return value === "auto" ? value : Number(value);
}

async function requestUpload(file, k) {
  const request = { filename: file.name, content_type: contentTypeOf(file), size: file.size };
  if (k !== undefined) request.k = k;
  const response = await apiFetch("/uploads", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(request),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 201) return body;
  if (response.status === 422) throw new Error(refusal(file, body));
  throw new Error(body.detail ? `${body.status}: ${body.detail}` : `upload refused (HTTP ${response.status}).`);
}

/** A 422 from POST /uploads, in words: which field, and why. */
function refusal(file, body) {
  const first = Array.isArray(body.detail) ? body.detail[0] : null;
  const field = first && Array.isArray(first.loc) ? first.loc[first.loc.length - 1] : "";
  if (field === "content_type") return `not a type we accept (${contentTypeOf(file)}).`;
  if (field === "size") return `the file is too large (${(file.size / 1048576).toFixed(1)} MB): ${first.msg}.`;
  return first ? `${field}: ${first.msg}.` : "the upload was refused.";
}

/** Post the file to the bucket with the signed policy's fields (the file goes last). */
async function postFile(ticket, file) {
  if (file.size > ticket.max_bytes) {
    throw new Error(`the file is too large (${(file.size / 1048576).toFixed(1)} MB; at most ${(ticket.max_bytes / 1048576).toFixed(1)} MB).`);
  }
  const form = new FormData();
  for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
  form.append("file", file);
  const response = await fetch(ticket.url, { method: ticket.method, body: form });
  if (!response.ok) throw new Error(`the bucket refused the upload (HTTP ${response.status}).`);
}

/** Long-poll until the result is in: the server answers the moment it is stored. A 202
 * (N seconds passed) is asked again at once; 404 (not visible yet) and 503 after a pause. */
async function waitForPalette(key) {
  const deadline = Date.now() + POLL_GIVE_UP_MS;
  let delay = RETRY_FIRST_MS;
  while (Date.now() < deadline) {
    const url = `/palettes/${keyPath(key)}?wait=${LONG_POLL_S}`;
    const response = await apiFetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.status === 200) return response.json();
    if (response.status === 202) continue;
    if (![404, 503].includes(response.status)) throw new Error(`unexpected HTTP ${response.status} while waiting.`);
    await sleep(delay);
    delay = Math.min(delay * 1.5, RETRY_MAX_MS);
  }
  throw new Error("no result after 3 minutes: is the worker running?");
}

async function handleFile(file) {
  const card = resultCard(file);
  $("results").prepend(card.root);
  try {
    card.state(`Uploading ${file.name}…`, true);
    announce(`Uploading ${file.name}…`);
    const k = chosenK();
    const ticket = await requestUpload(file, k);
    card.root.dataset.key = ticket.key;
    card.keyLine.textContent = ticket.key;
    await postFile(ticket, file);
    card.state("Uploaded. Extracting the palette…", true);
    announce(`${file.name} uploaded; extracting the palette.`);
    const doc = await waitForPalette(ticket.key);
    renderDocument(card, doc);
    announce(doc.status === "done"
      ? `Palette ready for ${file.name}: ${doc.colors.length} colours.`
      : `${file.name} failed: ${doc.error ? doc.error.code : "unknown error"}.`);
    addToGallery(galleryItemFrom(ticket.key, doc, card.thumbUrl), true);
  } catch (error) {
    card.root.dataset.status = "error";
    card.state("", false);
    card.body.append(errorBox("upload_failed", error.message));
    announce(`${file.name}: ${error.message}`);
  }
}

function handleFiles(files) {
  for (const file of files) handleFile(file);
}

// --- rendering ---------------------------------------------------------------------------

function resultCard(file) {
  const thumb = el("img", { className: "thumb", alt: `Your image ${file.name}` });
  thumb.addEventListener("error", () => thumb.replaceWith(noPreview()), { once: true });
  const thumbUrl = URL.createObjectURL(file);
  thumb.src = thumbUrl;
  const stateLine = el("p", { className: "card-state" });
  const keyLine = el("p", { className: "card-key" });
  const body = el("div", { className: "card-body" }, el("h3", {}, file.name), keyLine, stateLine);
  const root = el("li", { className: "card result" }, thumb, body);
  root.dataset.status = "uploading";
  const state = (text, busy) => {
    stateLine.textContent = text;
    stateLine.dataset.busy = String(busy);
    stateLine.hidden = !text;
  };
  return { root, body, keyLine, state, thumbUrl };
}

/** What stands in for an image the browser cannot show (not an image, or HEIC, …). */
function noPreview() {
  return el("div", { className: "thumb no-preview" }, "No preview");
}

function renderDocument(card, doc) {
  card.root.dataset.status = doc.status;
  card.state("", false);
  if (doc.status === "done") {
    card.body.append(kLine(doc.quality), barImage(card.root.dataset.key, doc.colors.length), swatchList(doc.colors));
  } else {
    const error = doc.error || {};
    card.body.append(errorBox(error.code || "failed", error.message || "no message"));
  }
}

/** "k 5 · 5 colours": what was asked for and what came back (auto picks its own). */
function kLine(quality) {
  const asked = quality ? quality.k_requested : undefined;
  const got = quality ? quality.k_returned : undefined;
  if (asked === undefined || asked === null) return null;
  const line = el("p", { className: "card-k" }, `k ${asked}${got !== undefined ? ` · ${got} colours` : ""}`);
  line.dataset.kRequested = String(asked);
  return line;
}

function barImage(key, count) {
  const img = el("img", { className: "bar", width: 300, height: 50, alt: `Palette bar of ${count} colours, widths by share` });
  showImage(img, `/bars/${keyPath(key)}`);
  return img;
}

function errorBox(code, message) {
  return el("p", { className: "error", role: "alert" }, "Failed: ", el("code", {}, code), ` — ${message}`);
}

function swatchList(colors) {
  const list = el("ul", { className: "swatches" });
  list.setAttribute("aria-label", "Colours, largest share first");
  for (const color of colors) list.append(el("li", {}, swatch(color)));
  return list;
}

function colorName(color) {
  return color.name && typeof color.name === "object" ? color.name.css || color.name.basic : color.name;
}

/** Text on a swatch: the document's own contrast choice, else black or white by luminance. */
function textColor(color) {
  if (color.text && color.text.color) return color.text.color;
  const [r, g, b] = (color.rgb || [128, 128, 128]).map((c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 ? "#000000" : "#ffffff";
}

function swatch(color) {
  const share = `${(color.proportion * 100).toFixed(1)} %`;
  const name = colorName(color);
  const hex = el("span", { className: "hex" }, color.hex);
  const meta = el("span", { className: "meta" }, name ? `${share} · ${name}` : share);
  const summary = `${color.hex} · ${share}${name ? ` · ${name}` : ""}`;
  const button = el("button", { type: "button", className: "swatch", title: `${summary} — click to copy` }, hex, meta);
  button.dataset.hex = color.hex;
  button.style.backgroundColor = color.hex;
  button.style.color = textColor(color);
  button.setAttribute("aria-label", `${color.hex}, ${share}${name ? `, ${name}` : ""}. Copy hex`);
  button.addEventListener("click", () => copyHex(button, color.hex));
  return button;
}

// --- copying -----------------------------------------------------------------------------

/** Fallback for browsers without the async clipboard (or without permission). */
function legacyCopy(text) {
  const area = el("textarea", { value: text, readOnly: true, className: "visually-hidden" });
  document.body.append(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  area.remove();
  return ok;
}

async function copyHex(button, hex) {
  let ok;
  try {
    await navigator.clipboard.writeText(hex);
    ok = true;
  } catch {
    ok = legacyCopy(hex);
  }
  const label = button.querySelector(".hex");
  button.classList.toggle("copied", ok);
  label.textContent = ok ? "Copied" : "Copy failed";
  button.dataset.copied = String(ok);
  announce(ok ? `Copied ${hex} to the clipboard.` : `Could not copy ${hex}; select it by hand.`);
  clearTimeout(button.copyTimer);
  button.copyTimer = setTimeout(() => {
    label.textContent = hex;
    button.classList.remove("copied");
    delete button.dataset.copied;
  }, COPIED_MS);
}

// --- gallery -----------------------------------------------------------------------------

let nextCursor = null;

function galleryItemFrom(key, doc, imageUrl) {
  return {
    key,
    last_modified: doc.created_at || new Date().toISOString(),
    status: doc.status,
    colors: doc.colors || [],
    error: doc.error || null,
    bar_url: doc.status === "done" ? `/bars/${keyPath(key)}` : null,
    image_url: doc.status === "done" ? imageUrl : null,
    k_requested: doc.quality ? doc.quality.k_requested : null,
  };
}

/** The card's thumbnail: the presigned source image, or "No preview" without one. */
function galleryThumb(item, name) {
  if (!item.image_url) return noPreview();
  const img = el("img", { className: "thumb", loading: "lazy", alt: `The image ${name}` });
  img.addEventListener("error", () => img.replaceWith(noPreview()), { once: true });
  img.src = item.image_url;
  return img;
}

function galleryCard(item) {
  const when = new Date(item.last_modified);
  const time = el("time", { dateTime: item.last_modified }, isNaN(when) ? "" : when.toLocaleString());
  const name = item.key.split("/").pop();
  const title = el("h3", {}, name);
  const path = el("p", { className: "card-key" }, item.key);
  const body = el("div", { className: "card-body" }, title, path, time);
  const card = el("li", { className: "card" }, galleryThumb(item, name), body);
  card.dataset.key = item.key;
  card.dataset.status = item.status;
  if (item.status === "done") {
    const bar = el("img", { className: "bar", width: 300, height: 50, loading: "lazy", alt: `Palette bar of ${item.colors.length} colours` });
    showImage(bar, item.bar_url || `/bars/${keyPath(item.key)}`);
    const k = item.k_requested === null || item.k_requested === undefined ? null : kLine({ k_requested: item.k_requested, k_returned: item.colors.length });
    body.append(k, bar, swatchList(item.colors));
  } else {
    const error = item.error || {};
    body.append(errorBox(error.code || item.status, error.message || ""));
  }
  return card;
}

function addToGallery(item, atTop) {
  const gallery = $("gallery");
  for (const old of gallery.querySelectorAll("li[data-key]")) {
    if (old.dataset.key === item.key) old.remove();
  }
  const card = galleryCard(item);
  if (atTop) {
    card.dataset.local = "true"; // this session's own result: kept when the list reloads
    gallery.prepend(card);
  } else {
    gallery.append(card);
  }
  $("gallery-status").textContent = "";
}

async function loadGallery(reset) {
  const params = new URLSearchParams({ limit: String(GALLERY_PAGE) });
  if (!reset && nextCursor) params.set("cursor", nextCursor);
  $("gallery-status").textContent = "Loading…";
  try {
    const response = await apiFetch(`/palettes?${params}`, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const page = await response.json();
    if (reset) {
      // The server's listing may lag a few seconds: keep this session's own results.
      for (const card of $("gallery").querySelectorAll("li:not([data-local])")) card.remove();
    }
    for (const item of page.items) addToGallery(item, false);
    nextCursor = page.next_cursor;
    $("more").hidden = !nextCursor;
    $("gallery-status").textContent = $("gallery").children.length ? "" : "No palettes yet: upload an image above.";
  } catch (error) {
    $("gallery-status").textContent = `Could not load recent palettes (${error.message}).`;
  }
}

// --- wiring ------------------------------------------------------------------------------

function wireDropZone() {
  const zone = $("drop-zone");
  const input = $("file-input");
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  input.addEventListener("change", () => {
    handleFiles([...input.files]);
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("drag-over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("drag-over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    handleFiles([...event.dataTransfer.files]);
  });
}

/** 1..32 after "default" and "auto" (the API's range). */
function fillKChooser() {
  const select = $("k-select");
  for (let k = 1; k <= 32; k += 1) select.append(el("option", { value: String(k) }, String(k)));
}

document.addEventListener("DOMContentLoaded", () => {
  fillKChooser();
  wireDropZone();
  $("more").addEventListener("click", () => loadGallery(false));
  $("refresh").addEventListener("click", () => loadGallery(true));
  loadGallery(true);
});
