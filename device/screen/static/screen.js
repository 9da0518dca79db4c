// The customer's screen: renders the kiosk's view model pushed over server-sent events and
// turns taps into POST /api/<action>. No framework and nothing loaded from outside the kiosk.
"use strict";

const SCREEN_OF_PHASE = {
  idle: "idle", basket: "basket", choose_payment: "choose_payment",
  face_capture: "face", smile_prompt: "face", step_up: "step_up", qr_wait: "qr_wait",
  merchant_qr: "merchant_qr", authorizing: "authorizing", approved: "approved",
  declined: "declined", offline_limit: "offline_limit", error: "error",
};
const CAMERA_REFRESH_MS = 250;
const MAX_STEP_UP_ATTEMPTS = 3;

let strings = {};
let languages = ["en", "zh"];
let lang = localStorage.getItem("smilepay.lang");
let view = null;
let digits = "";
let cameraTimer = null;

function t(key, values) {
  const table = strings[lang] || {};
  let text = table[key] !== undefined ? table[key] : (strings.en || {})[key];
  if (text === undefined) return null;
  for (const [name, value] of Object.entries(values || {})) text = text.replace(`{${name}}`, value);
  return text;
}

function money(minor) {
  const currency = (view && view.currency) || "";
  return `${currency} ${(minor / 100).toFixed(2)}`.trim();
}

function totalText() {
  if (!view) return "";
  const currency = view.currency || "";
  return view.total_text ? `${currency} ${view.total_text}`.trim() : money(view.total_minor || 0);
}

function noticeText(notice) {
  if (!notice) return "";
  if (notice.startsWith("camera unavailable")) return t("camera_unavailable");
  return t(`notice_${notice}`) || notice;
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.body.dataset.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const text = t(el.dataset.i18n);
    if (text !== null) el.textContent = text;
  }
  if (view) render(view);
}

function setBound(name, text) {
  for (const el of document.querySelectorAll(`[data-bind="${name}"]`)) {
    el.textContent = text;
    if (name === "notice") el.hidden = !text;
  }
}

function renderItems(items) {
  const list = document.getElementById("items");
  list.replaceChildren(...items.map((item, index) => {
    const row = document.createElement("li");
    const name = document.createElement("span");
    name.className = "item-name";
    name.textContent = item.quantity > 1 ? `${item.quantity} × ${item.name}` : item.name;
    const amount = document.createElement("span");
    amount.className = "item-amount";
    amount.textContent = money(item.amount_minor);
    const remove = document.createElement("button");
    remove.className = "remove";
    remove.textContent = t("remove");
    remove.addEventListener("click", () => post("remove_item", { index }));
    row.append(name, amount, remove);
    return row;
  }));
}

function renderBanner(v) {
  const banner = document.getElementById("offline-banner");
  banner.hidden = v.online !== false;
  if (banner.hidden) return;
  const backlog = v.backlog || {};
  const left = v.limits_left || {};
  banner.textContent = t("offline_banner", {
    count: backlog.count ?? 0, amount: money(backlog.amount_minor ?? 0),
    left_amount: money(left.amount_minor ?? 0), left_count: left.count ?? 0,
  });
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
  setBound("step_up_title", t("step_up_title", { name: v.match_name || "" }));
  const left = MAX_STEP_UP_ATTEMPTS - (v.step_up_attempts || 0);
  setBound("attempts", t("step_up_attempts", { n: left }));
  document.getElementById("digits").textContent = "•".repeat(digits.length) || "—";
}

function renderMerchantQr(v) {
  setBound("merchant_qr_title", t("merchant_qr_title", { amount: totalText() }));
  const img = document.getElementById("merchant-qr");
  img.hidden = !v.merchant_qr_svg;
  if (v.merchant_qr_svg) {
    const src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(v.merchant_qr_svg)}`;
    if (img.getAttribute("src") !== src) img.src = src;
  }
}

function renderResult(v) {
  setBound("approved_title", t("approved_title", { amount: totalText() }));
  document.getElementById("approved-offline").hidden = !v.offline;
  document.getElementById("settle-later").hidden = !v.settle_later;
}

function showScreen(name) {
  if (document.body.dataset.screen !== name && name !== "step_up") digits = "";
  document.body.dataset.screen = name;
  for (const section of document.querySelectorAll(".screen")) {
    section.classList.toggle("active", section.dataset.for === name);
  }
  const camera = name === "face" ? "#camera-face" : name === "qr_wait" ? "#camera-qr" : null;
  runCamera(camera);
}

function render(v) {
  view = v;
  const consent = location.pathname === "/consent";
  const name = consent ? "consent" : (SCREEN_OF_PHASE[v.phase] || "error");
  document.body.dataset.phase = v.phase;
  setBound("total", totalText());
  setBound("notice", noticeText(v.notice));
  renderBanner(v);
  renderItems(v.items || []);
  if (name === "face") renderFace(v);
  if (name === "step_up") renderStepUp(v);
  if (name === "merchant_qr") renderMerchantQr(v);
  if (name === "approved") renderResult(v);
  showScreen(name);
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

async function post(action, body) {
  const response = await fetch(`/api/${action}`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  if (!response.ok) console.warn(action, response.status, await response.text());
}

function onKey(key) {
  if (key === "clear") digits = "";
  else if (key === "ok") {
    if (digits.length >= 4) post("digits", { digits });
    digits = "";
  } else if (digits.length < 8) digits += key;
  if (view) renderStepUp(view);
}

function connect() {
  const source = new EventSource("/events");
  source.onmessage = (event) => render(JSON.parse(event.data));
  source.onerror = () => { document.body.dataset.connection = "lost"; };
  source.onopen = () => { document.body.dataset.connection = "open"; };
}

function wireButtons() {
  for (const el of document.querySelectorAll("[data-action]")) {
    el.addEventListener("click", () => post(el.dataset.action));
  }
  for (const el of document.querySelectorAll("[data-method]")) {
    el.addEventListener("click", () => post("payment", { method: el.dataset.method }));
  }
  for (const el of document.querySelectorAll("[data-key]")) {
    el.addEventListener("click", () => onKey(el.dataset.key));
  }
  document.getElementById("lang").addEventListener("click", () => {
    lang = languages[(languages.indexOf(lang) + 1) % languages.length];
    localStorage.setItem("smilepay.lang", lang);
    applyLanguage();
  });
}

function renderCatalogue(catalogue) {
  // One button per product; a tap puts one of it in the basket.
  for (const shelf of document.querySelectorAll(".catalogue")) {
    shelf.hidden = catalogue.length === 0;
    for (const product of catalogue) {
      const button = document.createElement("button");
      button.className = "btn product";
      button.dataset.product = product.name;
      const name = document.createElement("span");
      name.textContent = product.name;
      const price = document.createElement("strong");
      price.textContent = (product.unit_minor / 100).toFixed(2);
      button.append(name, price);
      button.addEventListener("click", () =>
        post("items", { name: product.name, quantity: 1, unit_minor: product.unit_minor }));
      shelf.append(button);
    }
  }
}

async function start() {
  strings = await (await fetch("/static/strings.json")).json();
  const settings = await (await fetch("/screen.json")).json();
  languages = settings.languages;
  renderCatalogue(settings.catalogue || []);
  if (!languages.includes(lang)) lang = languages[0];
  document.getElementById("lang").hidden = languages.length < 2;
  wireButtons();
  applyLanguage();
  if (location.pathname === "/consent") showScreen("consent");
  connect();
}

start();
