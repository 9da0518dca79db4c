"""Layout checks run inside the page: every control on screen, none overlapping, big enough,
and the amount due in sight; plus a sampler that records, every 50 ms, whether the amount was
visible in each payment phase."""

from __future__ import annotations

from typing import Any

SIZES = [(800, 480), (1024, 600), (1280, 800), (1080, 1920)]
PAYMENT_PHASES = {
    "choose_payment",
    "face_capture",
    "smile_prompt",
    "step_up",
    "qr_wait",
    "merchant_qr",
    "authorizing",
}
MIN_TOUCH_PX = 44

# Returns a list of problems (empty: the layout is right). Controls scrolled out of a scrolling
# list are skipped here (they are reached by scrolling, checked separately) and clipped to it.
LAYOUT_PROBLEMS_JS = r"""
const minTouch = arguments[0];
const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
const overlay = [...document.querySelectorAll('.overlay')].find(o => !o.hidden);
const root = overlay || document;
const shown = e => e.offsetParent !== null || getComputedStyle(e).position === 'fixed';
const name = e => e.dataset.testid || e.id || e.dataset.key || e.dataset.product
  || e.textContent.trim().slice(0, 20);
const problems = [];
const boxes = [];
for (const e of root.querySelectorAll('button, a.btn, [data-testid=amount]')) {
  if (!shown(e)) continue;
  let r = e.getBoundingClientRect();
  const scroller = e.closest('.items, .shelf');
  if (scroller) {
    const s = scroller.getBoundingClientRect();
    const top = Math.max(r.top, s.top), bottom = Math.min(r.bottom, s.bottom);
    const left = Math.max(r.left, s.left), right = Math.min(r.right, s.right);
    if (bottom - top < 1 || right - left < 1) continue;
    r = {top, bottom, left, right, width: right - left, height: bottom - top};
  }
  if (r.left < -0.5 || r.top < -0.5 || r.right > vw + 0.5 || r.bottom > vh + 0.5) {
    problems.push(`off screen: ${name(e)} at ${Math.round(r.left)},${Math.round(r.top)}`
      + `-${Math.round(r.right)},${Math.round(r.bottom)} in ${vw}x${vh}`);
  }
  if (e.matches('button, a.btn') && !scroller && (r.width < minTouch || r.height < minTouch)) {
    problems.push(`too small to tap: ${name(e)} ${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  boxes.push([e, r]);
}
for (let i = 0; i < boxes.length; i++) {
  for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra] = boxes[i], [b, rb] = boxes[j];
    if (a.contains(b) || b.contains(a)) continue;
    const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
    const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (w > 1 && h > 1) problems.push(`overlap: ${name(a)} and ${name(b)}`);
  }
}
const page = document.scrollingElement;
if (page.scrollHeight > page.clientHeight + 1 || page.scrollWidth > page.clientWidth + 1) {
  problems.push(`the page scrolls: ${page.scrollWidth}x${page.scrollHeight}`);
}
const active = document.querySelector('.screen.active');
if (active && active.scrollHeight > active.clientHeight + 1) {
  problems.push(`the ${active.dataset.for} screen is cut off: `
    + `${active.scrollHeight} > ${active.clientHeight}`);
}
return problems;
"""

AMOUNT_SHOWN_JS = r"""
const a = document.querySelector('[data-testid=amount]');
if (!a || a.offsetParent === null || !a.textContent.trim()) return false;
const r = a.getBoundingClientRect();
const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
return r.top >= 0 && r.left >= 0 && r.bottom <= vh && r.right <= vw;
"""

# Every 50 ms: [time ms, phase, amount visible and inside the viewport, amount text].
START_SAMPLER_JS = (
    r"""
window.__samples = [];
clearInterval(window.__sampler);
const shown = () => { """
    + AMOUNT_SHOWN_JS
    + r""" };
window.__sampler = setInterval(() => {
  const a = document.querySelector('[data-testid=amount]');
  window.__samples.push([performance.now(), document.body.dataset.phase, shown(),
    a ? a.textContent : '']);
}, 50);
"""
)


def layout_problems(driver: Any) -> list[str]:
    """What is wrong with the current screen's layout (empty when nothing)."""
    return list(driver.execute_script(LAYOUT_PROBLEMS_JS, MIN_TOUCH_PX))


def amount_shown(driver: Any) -> bool:
    """The amount due is visible, non-empty and inside the viewport."""
    return bool(driver.execute_script(AMOUNT_SHOWN_JS))


def start_sampler(driver: Any) -> None:
    """Start recording, every 50 ms, the phase and whether the amount was in sight."""
    driver.execute_script(START_SAMPLER_JS)


def samples(driver: Any) -> list[tuple[float, str, bool, str]]:
    """The sampler's records so far."""
    return [tuple(s) for s in driver.execute_script("return window.__samples || []")]
