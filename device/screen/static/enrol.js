// The enrolment page: shows the section of the current step, polls captures while capturing.
"use strict";

const CAPTURE_EVERY_MS = 600;
const GUIDANCE = {
  no_face: "We cannot see a face", come_closer: "Come a little closer",
  look_at_screen: "Look straight at the screen", too_dark: "It is too dark",
  too_bright: "It is too bright", hold_still: "Hold still", ok: "Good",
  different_person: "One person at a time, please",
};
let capturing = null;

async function call(path, body) {
  const response = await fetch(`/api/enrol/${path}`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json();
  if (!response.ok) { throw new Error(answer.error || "refused"); }
  show(answer);
  return answer;
}

function show(view) {
  document.body.dataset.enrolStep = view.step;
  for (const section of document.querySelectorAll("section[data-step]")) {
    section.hidden = section.dataset.step !== view.step;
    section.classList.toggle("active", section.dataset.step === view.step);
  }
  document.getElementById("consent-version").textContent = view.consent_version;
  document.getElementById("enrol-count").textContent = view.captures;
  document.getElementById("enrol-needed").textContent = view.captures_needed;
  document.getElementById("enrol-guidance").textContent = GUIDANCE[view.guidance] || view.guidance || "";
  if (view.step === "capture" && capturing === null) {
    capturing = setInterval(() => call("capture").catch(() => {}), CAPTURE_EVERY_MS);
  }
  if (view.step !== "capture" && capturing !== null) {
    clearInterval(capturing);
    capturing = null;
  }
}

function on(id, handler) {
  document.getElementById(id).addEventListener("click", () => handler().catch((error) => {
    const box = document.getElementById("enrol-error");
    box.textContent = error.message;
    box.hidden = false;
  }));
}

window.addEventListener("DOMContentLoaded", async () => {
  on("enrol-start", () => call("start"));
  on("enrol-accept", () => call("consent", {
    version: document.getElementById("consent-version").textContent,
  }));
  for (const id of ["enrol-cancel-consent", "enrol-cancel-capture", "enrol-cancel-confirm"]) {
    on(id, () => call("cancel"));
  }
  on("enrol-digits-ok", () => call("step-up", { digits: document.getElementById("enrol-digits").value }));
  on("enrol-digits-skip", () => call("step-up", { digits: null }));
  on("enrol-confirm", () => call("confirm", { name: document.getElementById("enrol-name").value }));
  const response = await fetch("/api/enrol/state");
  const answer = await response.json();
  if (!response.ok) {  // not the kiosk's screen, or self-service enrolment is off here
    const box = document.getElementById("enrol-error");
    box.textContent = answer.error || "enrolment is not available";
    box.hidden = false;
    document.body.dataset.enrolStep = "refused";
    for (const section of document.querySelectorAll("section[data-step]")) section.hidden = true;
    return;
  }
  show(answer);
});
