// The face-data deletion page: shows the section of the current step, looks at the camera
// while identifying.
"use strict";

const LOOK_EVERY_MS = 600;
const GUIDANCE = {
  no_face: "We cannot see a face", come_closer: "Come a little closer",
  look_at_screen: "Look straight at the screen, or hold up your payment code",
  too_dark: "It is too dark", too_bright: "It is too bright",
  not_enrolled: "We do not recognise this face here", bad_code: "That code is not a payment code",
};
const OUTCOME = {
  deleted: "Deleted from this kiosk; the other kiosks confirm as they sync.",
  queued: "Deleted from this kiosk; the other kiosks follow when the connection is back.",
};
let looking = null;

async function call(path, body) {
  const response = await fetch(`/api/forget/${path}`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json();
  if (!response.ok) { throw new Error(answer.error || "refused"); }
  show(answer);
  return answer;
}

function show(view) {
  document.body.dataset.forgetStep = view.step;
  for (const section of document.querySelectorAll("section[data-step]")) {
    section.hidden = section.dataset.step !== view.step;
    section.classList.toggle("active", section.dataset.step === view.step);
  }
  document.getElementById("forget-guidance").textContent = GUIDANCE[view.guidance] || view.guidance || "";
  document.getElementById("forget-outcome").textContent = OUTCOME[view.outcome] || "";
  document.getElementById("forget-reason").textContent = view.step === "refused" ? view.outcome : "";
  if (view.step === "identify" && looking === null) {
    looking = setInterval(() => call("look").catch(() => {}), LOOK_EVERY_MS);
  }
  if (view.step !== "identify" && looking !== null) {
    clearInterval(looking);
    looking = null;
  }
}

function fail(error) {
  const box = document.getElementById("forget-error");
  box.textContent = error.message;
  box.hidden = false;
}

function on(id, handler) {
  document.getElementById(id).addEventListener("click", () => handler().catch(fail));
}

window.addEventListener("DOMContentLoaded", async () => {
  on("forget-start", () => call("start"));
  on("forget-again", () => call("start"));
  for (const id of ["forget-cancel-identify", "forget-cancel-prove"]) on(id, () => call("cancel"));
  on("forget-digits-ok", () => call("digits", { digits: document.getElementById("forget-digits").value }));
  const response = await fetch("/api/forget/state");
  const answer = await response.json();
  if (!response.ok) {
    fail(new Error(answer.error || "not available"));
    document.body.dataset.forgetStep = "refused-access";
    for (const section of document.querySelectorAll("section[data-step]")) section.hidden = true;
    return;
  }
  show(answer);
});
