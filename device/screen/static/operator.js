// The operator page: unlock with the PIN, then watch queue, sync, camera and peripheral health.
"use strict";

const REFRESH_MS = 2000;
let refreshTimer = null;

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

function cellText(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function flatten(facts, prefix = "") {
  // Nested status ({"camera": {"state": ...}}) becomes one row per leaf: "camera.state".
  return Object.entries(facts).flatMap(([key, value]) =>
    value && typeof value === "object" && !Array.isArray(value)
      ? flatten(value, `${prefix}${key}.`)
      : [[`${prefix}${key}`, value]]);
}

function fillTable(table, facts) {
  table.replaceChildren(...flatten(facts).map(([key, value]) => {
    const row = document.createElement("tr");
    const name = document.createElement("th");
    name.textContent = key;
    const cell = document.createElement("td");
    cell.textContent = cellText(value);
    if (value === true || value === "ok") cell.className = "good";
    if (value === false || value === "error" || value === "unavailable") cell.className = "bad";
    row.append(name, cell);
    return row;
  }));
}

async function refresh() {
  const response = await fetch("/api/operator/health");
  if (response.status === 401) return lock();
  const body = await response.json();
  fillTable(document.getElementById("summary"), body.view);
  fillTable(document.getElementById("health"), body.health);
}

function lock() {
  clearInterval(refreshTimer);
  document.body.dataset.operator = "locked";
  document.getElementById("login").hidden = false;
  document.getElementById("status").hidden = true;
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
  show(error, (await response.json()).error || `error ${response.status}`);
}

async function syncNow() {
  const response = await fetch("/api/operator/sync", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
  });
  const result = document.getElementById("sync-result");
  show(result, response.ok ? "Sync requested · 已请求同步" : `error ${response.status}`);
  refresh();
}

document.getElementById("login").addEventListener("submit", login);
document.getElementById("sync-now").addEventListener("click", syncNow);
fetch("/api/operator/health").then((r) => (r.ok ? unlock() : lock()));
