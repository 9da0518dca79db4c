// The customer's screen: renders the kiosk's view model pushed over server-sent events and
// turns taps into POST /api/<action>. No framework and nothing loaded from outside the kiosk.
"use strict";

const SCREEN_OF_PHASE = {
  idle: "idle", basket: "basket", choose_payment: "choose_payment",
  face_capture: "face", smile_prompt: "face", step_up: "step_up", qr_wait: "qr_wait",
  merchant_qr: "merchant_qr", authorizing: "authorizing", approved: "approved",
  declined: "declined", offline_limit: "offline_limit", error: "error",
};
// Phases whose screen pins the amount due (the basket and every payment step).
const AMOUNT_PHASES = new Set([
  "basket", "choose_payment", "face_capture", "smile_prompt", "step_up", "qr_wait",
  "merchant_qr", "authorizing",
]);
// Phases that time out by themselves and may be extended with "I'm still here", and how many
// seconds ahead the page asks (in front of the camera: nobody seen for 3 of the 8 s).
const WARN_S = {
  basket: 15, choose_payment: 15, step_up: 15, qr_wait: 15, merchant_qr: 15,
  face_capture: 5, smile_prompt: 5,
};
const CAMERA_REFRESH_MS = 250;
const MAX_STEP_UP_ATTEMPTS = 3;
const REPEAT_MS = 300;          // repeated taps on one control within this count once
const STREAM_SILENT_MS = 4000;  // no message (the kiosk pings every 1.5 s): out of service
const OPERATOR_HOLD_MS = 3000;

let strings = {};
let languages = ["en"];
let lang = sessionStorage.getItem("smilepay.lang");
let consentVersion = null;
let view = null;
let digits = "";
let cameraTimer = null;
let faceDeclinedFor = null;  // the sale whose customer said no to face payment
let consentFor = null;       // the sale showing the consent screen
let deadlineAt = null;       // local clock (ms) when the current step times out
let lastMessageAt = 0;
let source = null;
let reconnectedAt = 0;
const startedAt = Date.now();

function t(key, values) {
  const table = strings[lang] || {};
  let text = table[key] !== undefined ? table[key] : (strings[languages[0]] || {})[key];
  if (text === undefined) return null;
  for (const [name, value] of Object.entries(values || {})) text = text.replace(`{${name}}`, value);
  return text;
}

// Money by the currency's ISO 4217 minor units, always with the currency code.
function money(minor) {
  const currency = (view && view.currency) || "";
  const places = view && Number.isInteger(view.minor_digits) ? view.minor_digits : 2;
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  if (places === 0) return `${currency} ${sign}${abs}`.trim();
  const unit = 10 ** places;
  const fraction = String(abs % unit).padStart(places, "0");
  return `${currency} ${sign}${Math.floor(abs / unit)}.${fraction}`.trim();
}

function totalText() {
  return view ? money(view.total_minor || 0) : "";
}

function reasonText(reason) {
  if (!reason) return "";
  return t(`reason_${reason}`) || t("reason_unknown");
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : lang;
  document.body.dataset.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const text = t(el.dataset.i18n);
    if (text !== null) el.textContent = text;
  }
  // The toggle names the next language in that language's own words.
  const next = languages[(languages.indexOf(lang) + 1) % languages.length];
  document.getElementById("lang").textContent = (strings[next] || {}).language_name || next;
  renderCatalogue();
  if (view) render(view);
}

function setLanguage(next) {
  lang = next;
  sessionStorage.setItem("smilepay.lang", lang);
  applyLanguage();
}

function setBound(name, text) {
  for (const el of document.querySelectorAll(`[data-bind="${name}"]`)) {
    el.textContent = text;
    if (name === "notice") el.hidden = !text;
  }
}

// --- taps ---------------------------------------------------------------------------------

let lastTap = { el: null, at: 0 };

function onTap(el, handler) {
  // A second tap on the same control within REPEAT_MS, with no other tap between, is the same
  // tap (the server agrees). Pay, Back, Pay in quick succession are three taps.
  el.addEventListener("click", (event) => {
    const now = Date.now();
    if (lastTap.el === el && now - lastTap.at < REPEAT_MS) return;
    lastTap = { el, at: now };
    handler(event);
  });
}

async function post(action, body) {
  try {
    const response = await fetch(`/api/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}), credentials: "same-origin",
    });
    if (!response.ok) console.warn(action, response.status, await response.text());
  } catch (error) {
    console.warn(action, error);
  }
}

// --- basket -------------------------------------------------------------------------------

function lineRow(item, index, lineCount) {
  const row = document.createElement("li");
  row.dataset.testid = "basket-line";
  const name = document.createElement("span");
  name.className = "item-name";
  name.textContent = item.name;
  const minus = document.createElement("button");
  minus.className = "qty-btn";
  minus.dataset.testid = "quantity-minus";
  minus.textContent = "−";
  minus.setAttribute("aria-label", t("quantity_minus") || "-");
  onTap(minus, () => {
    if (item.quantity === 1 && lineCount === 1) confirmEmpty(() => post("remove_item", { index }));
    else post("quantity", { index, delta: -1 });
  });
  const quantity = document.createElement("span");
  quantity.className = "qty";
  quantity.dataset.testid = "quantity";
  quantity.textContent = String(item.quantity);
  const plus = document.createElement("button");
  plus.className = "qty-btn";
  plus.dataset.testid = "quantity-plus";
  plus.textContent = "+";
  plus.setAttribute("aria-label", t("quantity_plus") || "+");
  onTap(plus, () => post("quantity", { index, delta: 1 }));
  const amount = document.createElement("span");
  amount.className = "item-amount";
  amount.textContent = money(item.amount_minor);
  const controls = document.createElement("span");
  controls.className = "qty-controls";
  controls.append(minus, quantity, plus);
  row.append(name, controls, amount);
  return row;
}

function renderItems(items) {
  const list = document.getElementById("items");
  const key = JSON.stringify([items, lang, view && view.currency]);
  if (list.dataset.key === key) return;
  const grew = items.length > Number(list.dataset.count || 0);
  list.dataset.key = key;
  list.dataset.count = String(items.length);
  list.replaceChildren(...items.map((item, index) => lineRow(item, index, items.length)));
  if (grew && list.lastElementChild) list.lastElementChild.scrollIntoView({ block: "nearest" });
  updateScrollCue();
}

function updateScrollCue() {
  // A cue while lines are hidden above or below (the list scrolls; the amount and Pay stay).
  const list = document.getElementById("items");
  const below = list.scrollHeight - list.clientHeight - list.scrollTop > 4;
  const above = list.scrollTop > 4;
  const cue = document.getElementById("more-items");
  cue.hidden = !(above || below);
  const key = above && below ? "more_items" : above ? "more_items_above" : "more_items_below";
  cue.textContent = t(key);
  list.classList.toggle("more-below", below);
  list.classList.toggle("more-above", above);
}

let confirmAction = null;

function confirmEmpty(action) {
  confirmAction = action;
  document.getElementById("confirm-empty").hidden = false;
}

function closeConfirm(run) {
  document.getElementById("confirm-empty").hidden = true;
  const action = confirmAction;
  confirmAction = null;
  if (run && action) action();
}

// --- screens ------------------------------------------------------------------------------

function renderBanner(v) {
  // Customers learn only that the payment is confirmed later; the limits are for the operator.
  document.getElementById("offline-banner").hidden = v.online !== false;
}

function renderAmount(v) {
  const shown = AMOUNT_PHASES.has(v.phase) && (v.total_minor || 0) > 0;
  document.getElementById("amount-bar").hidden = !shown;
  document.getElementById("amount").textContent = shown ? totalText() : "";
}

function renderFace(v) {
  const amount = totalText();
  const text = t(`guidance_${v.guidance || "no_face"}`, { amount }) || t("guidance_no_face");
  document.getElementById("guidance").textContent = text;
  const box = document.querySelector("#camera-face .face-box");
  const size = v.frame_size;
  box.hidden = !(v.face_box && size);
  if (box.hidden) return;
  const [x, y, w, h] = v.face_box;
  // The frame is shown mirrored (like a mirror, so moving left moves left): mirror the box too.
  box.style.left = `${100 * (size[0] - x - w) / size[0]}%`;
  box.style.top = `${100 * y / size[1]}%`;
  box.style.width = `${100 * w / size[0]}%`;
  box.style.height = `${100 * h / size[1]}%`;
  box.classList.toggle("smile", v.guidance === "now_smile");
}

function renderStepUp(v) {
  // Only the masked name (E. A***): the screen is public.
  setBound("step_up_title", t("step_up_title", { name: v.match_name || "" }));
  const left = MAX_STEP_UP_ATTEMPTS - (v.step_up_attempts || 0);
  setBound("attempts", t("step_up_attempts", { n: left }));
  document.getElementById("digits").textContent = "•".repeat(digits.length) || "—";
}

function renderMerchantQr(v) {
  setBound("merchant_qr_title", t("merchant_qr_title", { amount: totalText() }));
  const img = document.getElementById("merchant-qr");
  img.alt = t("merchant_qr_alt") || "";
  img.hidden = !v.merchant_qr_svg;
  if (v.merchant_qr_svg) {
    const src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(v.merchant_qr_svg)}`;
    if (img.getAttribute("src") !== src) img.src = src;
  }
}

function renderChoice(v) {
  // Only the methods this sale allows (terminal mode: the POS's), and no face after consent
  // was declined for this sale.
  const allowed = new Set(v.methods || []);
  const declined = faceDeclinedFor !== null && faceDeclinedFor === v.sale_id;
  for (const button of document.querySelectorAll("button.method[data-method]")) {
    const method = button.dataset.method;
    button.hidden = !allowed.has(method) || (method === "face" && declined);
  }
}

function renderResult(v) {
  setBound("approved_title", t("approved_title", { amount: totalText() }));
  document.getElementById("approved-offline").hidden = !v.offline;
}

function screenFor(v) {
  if (location.pathname === "/consent") return "consent";
  if (v.phase === "choose_payment" && consentFor === v.sale_id) return "face_consent";
  return SCREEN_OF_PHASE[v.phase] || "error";
}

function showScreen(name) {
  if (document.body.dataset.screen !== name && name !== "step_up") digits = "";
  document.body.dataset.screen = name;
  for (const section of document.querySelectorAll(".screen")) {
    section.classList.toggle("active", section.dataset.for === name);
  }
  const camera = name === "face" ? "#camera-face" : name === "qr_wait" ? "#camera-qr" : null;
  runCamera(camera);
  if (name === "basket") updateScrollCue();
}

function render(v) {
  const previous = view ? view.phase : null;
  view = v;
  if (v.phase === "idle" && previous !== null && previous !== "idle") {
    // The next customer starts in the default language, with no choices of the last one.
    faceDeclinedFor = consentFor = null;
    if (lang !== languages[0]) return setLanguage(languages[0]);
  }
  if (v.phase !== "choose_payment") consentFor = null;
  if (previous !== null && v.phase !== previous) closeConfirm(false);
  document.body.dataset.phase = v.phase;
  if (document.body.dataset.currency !== v.currency) {
    document.body.dataset.currency = v.currency;
    renderCatalogue();
  }
  setBound("notice", reasonText(v.reason));
  renderBanner(v);
  renderAmount(v);
  renderItems(v.items || []);
  const name = screenFor(v);
  if (name === "face") renderFace(v);
  if (name === "step_up") renderStepUp(v);
  if (name === "merchant_qr") renderMerchantQr(v);
  if (name === "choose_payment") renderChoice(v);
  if (name === "approved") renderResult(v);
  deadlineAt = v.seconds_left === null || v.seconds_left === undefined
    ? null : Date.now() + 1000 * v.seconds_left;
  renderCountdown();
  showScreen(name);
}

// --- "are you still there?" and "out of service" -------------------------------------------

function renderCountdown() {
  const overlay = document.getElementById("still-there");
  const ahead = view ? WARN_S[view.phase] : undefined;
  const warn = ahead !== undefined && deadlineAt !== null;
  const left = warn ? Math.max(0, Math.ceil((deadlineAt - Date.now()) / 1000)) : null;
  overlay.hidden = !(warn && left <= ahead);
  if (overlay.hidden) return;
  // Say what happens: the sale is dropped, or the customer goes back to the payment choice.
  const key = view.timeout_to === "idle" ? "still_there_countdown" : "still_there_countdown_back";
  setBound("countdown", t(key, { n: left }));
}

function renderConnection() {
  // Out of service once the stream has been silent too long (the kiosk pings every 1.5 s);
  // back by itself with the first message after it returns.
  const now = Date.now();
  const lost = now - (lastMessageAt || startedAt) > STREAM_SILENT_MS;
  document.getElementById("out-of-service").hidden = !lost;
  document.body.dataset.connection = lost ? "lost" : "open";
  const stuck = !source || source.readyState === EventSource.CLOSED;
  if (lost && (stuck || now - reconnectedAt > 2 * STREAM_SILENT_MS)) reconnect();
}

function connect() {
  reconnectedAt = Date.now();
  source = new EventSource("/events");
  source.onmessage = (event) => {
    lastMessageAt = Date.now();
    render(JSON.parse(event.data));
    renderConnection();
  };
  source.addEventListener("ping", () => { lastMessageAt = Date.now(); renderConnection(); });
}

function reconnect() {
  if (source) source.close();
  connect();
}

function runCamera(selector) {
  clearInterval(cameraTimer);
  cameraTimer = null;
  if (!selector) return;
  const img = document.querySelector(`${selector} .camera-frame`);
  const refresh = () => {
    // Load off-screen first so the visible frame never flashes empty.
    const next = new Image();
    next.onload = () => {
      img.src = next.src;
      // Counts shown frames, so a test can wait for a fresh frame before a screenshot.
      img.dataset.frames = String(Number(img.dataset.frames || 0) + 1);
    };
    next.src = `/camera.jpg?t=${Date.now()}`;
  };
  refresh();
  cameraTimer = setInterval(refresh, CAMERA_REFRESH_MS);
}

// --- wiring -------------------------------------------------------------------------------

function onKey(key) {
  if (key === "clear") digits = "";
  else if (key === "ok") {
    if (digits.length >= 4) post("digits", { digits });
    digits = "";
  } else if (digits.length < 8) digits += key;
  if (view) renderStepUp(view);
}

function act(action) {
  // Cancel empties the basket: ask first whenever there is one.
  const basket = view && (view.items || []).length > 0;
  if (action === "cancel" && basket) confirmEmpty(() => post("cancel"));
  else post(action);
}

function chooseMethod(method) {
  if (method === "face") {
    consentFor = view ? view.sale_id : null;  // consent first, every time
    if (view) render(view);
    return;
  }
  post("payment", { method });
}

function wireButtons() {
  for (const el of document.querySelectorAll("[data-action]")) {
    onTap(el, () => act(el.dataset.action));
  }
  for (const el of document.querySelectorAll("[data-method]")) {
    onTap(el, () => chooseMethod(el.dataset.method));
  }
  for (const el of document.querySelectorAll("[data-key]")) {
    // Digits may repeat ("1111"): only OK is guarded against a double tap.
    if (el.dataset.key === "ok") onTap(el, () => onKey("ok"));
    else el.addEventListener("click", () => onKey(el.dataset.key));
  }
  onTap(document.getElementById("cancel-basket"), () => act("cancel"));
  onTap(document.getElementById("keep-basket"), () => closeConfirm(false));
  onTap(document.getElementById("empty-basket"), () => closeConfirm(true));
  onTap(document.getElementById("still-here"), () => post("still_here"));
  onTap(document.getElementById("consent-agree"), () => {
    consentFor = null;
    post("payment", { method: "face", consent: consentVersion });
  });
  onTap(document.getElementById("consent-decline"), () => {
    faceDeclinedFor = consentFor;
    consentFor = null;
    if (view) render(view);
  });
  onTap(document.getElementById("lang"), () => {
    setLanguage(languages[(languages.indexOf(lang) + 1) % languages.length]);
  });
  document.getElementById("items").addEventListener("scroll", updateScrollCue);
  window.addEventListener("resize", updateScrollCue);
  wireOperatorGesture(document.getElementById("brand"));
}

function wireOperatorGesture(el) {
  // Staff hold the brand for 3 s to reach the operator page (it asks for the PIN).
  let timer = null;
  const stop = () => { clearTimeout(timer); timer = null; };
  el.addEventListener("pointerdown", () => {
    stop();
    timer = setTimeout(() => { location.href = "/operator"; }, OPERATOR_HOLD_MS);
  });
  for (const name of ["pointerup", "pointerleave", "pointercancel"]) el.addEventListener(name, stop);
}

function renderCatalogue() {
  // One button per product; a tap puts one of it in the basket (by id: prices are the kiosk's).
  const catalogue = window.smilepayCatalogue || [];
  for (const shelf of document.querySelectorAll(".catalogue")) {
    shelf.hidden = catalogue.length === 0;
    shelf.replaceChildren(...catalogue.map((product) => {
      const button = document.createElement("button");
      button.className = "btn product";
      button.dataset.product = product.id;
      button.dataset.testid = "product";
      const name = document.createElement("span");
      name.textContent = product.name;
      const price = document.createElement("strong");
      price.textContent = money(product.unit_minor);
      button.append(name, price);
      onTap(button, () => post("items", { item_id: product.id }));
      return button;
    }));
  }
}

async function start() {
  strings = await (await fetch("/static/strings.json")).json();
  const settings = await (await fetch("/screen.json")).json();
  languages = settings.languages;
  consentVersion = settings.consent_version;
  window.smilepayCatalogue = settings.catalogue || [];
  if (!languages.includes(lang)) lang = languages[0];
  document.getElementById("lang").hidden = languages.length < 2;
  // Self-service enrolment, where the kiosk allows it (screen.self_enrolment).
  document.getElementById("enrol-entry").hidden = !settings.self_enrolment;
  // Deleting one's face data is always offered where the kiosk can do it.
  document.getElementById("forget-entry").hidden = !settings.forget;
  wireButtons();
  applyLanguage();
  if (location.pathname === "/consent") showScreen("consent");
  setInterval(() => { renderCountdown(); renderConnection(); }, 250);
  connect();
}

start();
