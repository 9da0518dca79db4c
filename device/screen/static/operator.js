// The operator page: unlock with the PIN, then read the kiosk's state in words a store manager
// understands ("Payments waiting to sync: 2 (EUR 9.00)", "Last successful sync: 3 min ago").
"use strict";

const REFRESH_MS = 2000;
let refreshTimer = null;
let lockTimer = null;
let strings = {};
let languages = ["en"];
let lang = null;
let last = null;

function t(key, values) {
  const table = strings[lang] || {};
  let text = table[key] !== undefined ? table[key] : (strings[languages[0]] || {})[key];
  if (text === undefined) return key;
  for (const [name, value] of Object.entries(values || {})) text = text.replace(`{${name}}`, value);
  return text;
}

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

let minorDigits = 2;  // the currency's ISO 4217 minor units, from the kiosk's view

function money(minor, currency) {
  const digits = minorDigits;
  if (digits === 0) return `${currency} ${minor}`;
  const unit = 10 ** digits;
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  return `${currency} ${sign}${Math.floor(abs / unit)}.${String(abs % unit).padStart(digits, "0")}`;
}

function ago(seconds) {
  // "12 s ago", "3 min ago", "2 h ago", "4 days ago"; null: never.
  if (seconds === null || seconds === undefined) return t("op_never");
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return t("op_ago_s", { n: s });
  if (s < 90 * 60) return t("op_ago_min", { n: Math.round(s / 60) });
  if (s < 36 * 3600) return t("op_ago_h", { n: Math.round(s / 3600) });
  return t("op_ago_d", { n: Math.round(s / 86400) });
}

function since(unixSeconds) {
  return unixSeconds ? ago(Date.now() / 1000 - unixSeconds) : t("op_never");
}

function works(ok) {
  return [ok ? t("op_ok") : t("op_unavailable"), ok ? "good" : "bad"];
}

function summaryRows(h) {
  const q = h.queue;
  const online = h.link.online;
  return [
    [t("op_phase"), t(`phase_${h.phase}`)],
    [t("op_online"), online ? t("op_online_yes") : t("op_online_no"), online ? "good" : "bad"],
    [t("op_link_checked"), ago(h.link.checked_age_s)],
    [t("op_backlog"), t("op_backlog_value", {
      count: q.backlog_count, amount: money(q.backlog_amount_minor, h.currency) })],
    [t("op_oldest"), q.oldest_unsynced_age_s === null ? t("op_none") : ago(q.oldest_unsynced_age_s)],
    [t("op_rejected"), String(q.rejected_count), q.rejected_count ? "bad" : ""],
    [t("op_limits_left"), t("op_limits_value", {
      amount: money(h.limits_left.amount_minor, h.currency), count: h.limits_left.count })],
    [t("op_last_sync"), since(h.sync.last_ok_at)],
    [t("op_last_error"), h.sync.last_error || t("op_none"), h.sync.last_error ? "bad" : ""],
  ];
}

function healthRows(h) {
  const rows = [];
  if (h.camera) {
    rows.push([t("op_camera"), ...works(h.camera.state === "ok")]);
    rows.push([t("op_camera_checked"), ago(h.camera.heartbeat_age_s)]);
  } else rows.push([t("op_camera"), t("op_absent")]);
  if (h.scanner) rows.push([t("op_scanner"), ...works(h.scanner.available)]);
  else rows.push([t("op_scanner"), t("op_absent")]);
  if (h.printer) rows.push([t("op_printer"), ...works(h.printer === "ok")]);
  else rows.push([t("op_printer"), t("op_absent")]);
  rows.push([t("op_heartbeat"), ago(h.checkout_heartbeat_age_s)]);
  return rows;
}

function fillTable(table, rows) {
  table.replaceChildren(...rows.map(([label, value, tone]) => {
    const row = document.createElement("tr");
    const name = document.createElement("th");
    name.textContent = label;
    const cell = document.createElement("td");
    cell.textContent = value;
    if (tone) cell.className = tone;
    row.append(name, cell);
    return row;
  }));
}

function renderStatus() {
  if (!last) return;
  fillTable(document.getElementById("summary"), summaryRows(last));
  fillTable(document.getElementById("health"), healthRows(last));
}

async function refresh() {
  const response = await fetch("/api/operator/health");
  const body = await response.json();
  if (response.status === 401) return lock(body.retry_after_s || 0);
  last = body.health;
  minorDigits = body.view.minor_digits;
  renderStatus();
}

function lock(retryAfter) {
  clearInterval(refreshTimer);
  document.body.dataset.operator = "locked";
  document.getElementById("login").hidden = false;
  document.getElementById("status").hidden = true;
  if (retryAfter > 0) countDown(retryAfter);
}

function countDown(seconds) {
  // A visible countdown while this client is locked out after wrong PINs.
  clearInterval(lockTimer);
  const error = document.getElementById("login-error");
  const unlock = document.getElementById("unlock");
  let left = seconds;
  const tick = () => {
    if (left <= 0) {
      clearInterval(lockTimer);
      unlock.disabled = false;
      return show(error, "");
    }
    unlock.disabled = true;
    show(error, t("operator_locked", { n: left }));
    left -= 1;
  };
  tick();
  lockTimer = setInterval(tick, 1000);
}

function unlock() {
  document.body.dataset.operator = "open";
  document.getElementById("login").hidden = true;
  document.getElementById("status").hidden = false;
  refresh();
  refreshTimer = setInterval(refresh, REFRESH_MS);
}

async function login(event) {
  event.preventDefault();
  const pinField = document.getElementById("pin");
  const response = await fetch("/operator/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ pin: pinField.value }),
  });
  pinField.value = "";
  const error = document.getElementById("login-error");
  if (response.ok) {
    show(error, "");
    return unlock();
  }
  const body = await response.json();
  if (response.status === 429) return countDown(body.retry_after_s || 1);
  show(error, response.status === 401 ? t("operator_wrong_pin") : body.error);
}

async function logout() {
  await fetch("/operator/logout", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
  });
  lock(0);
}

async function syncNow() {
  const response = await fetch("/api/operator/sync", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
  });
  const result = document.getElementById("sync-result");
  show(result, response.ok ? t("operator_sync_requested") : `error ${response.status}`);
  refresh();
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  // The toggle names the next language in that language's own words.
  const next = languages[(languages.indexOf(lang) + 1) % languages.length];
  document.getElementById("lang").textContent = (strings[next] || {}).language_name || next;
  renderStatus();
}

async function start() {
  strings = await (await fetch("/static/strings.json")).json();
  const settings = await (await fetch("/screen.json")).json();
  languages = settings.languages;
  // Operator-assisted enrolment, when this kiosk can enrol (a camera and the face models).
  document.getElementById("operator-enrol").hidden = !settings.enrolment;
  lang = languages[0];
  document.getElementById("lang").hidden = languages.length < 2;
  applyLanguage();
  document.getElementById("login").addEventListener("submit", login);
  document.getElementById("sync-now").addEventListener("click", syncNow);
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("lang").addEventListener("click", () => {
    lang = languages[(languages.indexOf(lang) + 1) % languages.length];
    applyLanguage();
  });
  const response = await fetch("/api/operator/health");
  if (response.ok) unlock();
  else lock((await response.json()).retry_after_s || 0);
}

start();
