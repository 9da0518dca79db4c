"""The browser on the customer screen, with waits on what the customer would see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.timing import slow

WAIT_S = slow(10.0)


class Page:
    """The browser on the screen, with waits on what the customer would see."""

    def __init__(
        self, driver: Any, screen: Any, shots: Path, prefix: str, wait_s: float = WAIT_S
    ) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.screen, self.shots, self.prefix = driver, screen, shots, prefix
        self.by = By
        self.wait = WebDriverWait(driver, wait_s)

    def open(self, path: str = "/") -> None:
        """Launch as the kiosk does (the secret becomes a cookie), then open `path` afresh."""
        self.driver.get(self.screen.launch_url)
        self.driver.execute_script("localStorage.clear(); sessionStorage.clear()")
        self.driver.get(self.screen.url + path)

    def wait_phase(self, phase: str) -> None:
        body = lambda d: d.find_element(self.by.TAG_NAME, "body")  # noqa: E731
        self.wait.until(lambda d: body(d).get_attribute("data-phase") == phase)

    def wait_until(self, condition: Any) -> None:
        self.wait.until(lambda d: condition())

    def click(self, css: str) -> None:
        self.element(css).click()

    def element(self, css: str) -> Any:
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def visible(self, css: str) -> Any:
        """The one displayed element matching `css` (several screens share test ids)."""
        shown = [
            e for e in self.driver.find_elements(self.by.CSS_SELECTOR, css) if e.is_displayed()
        ]
        assert len(shown) == 1, f"{len(shown)} displayed elements match {css}"
        return shown[0]

    def tap(self, testid: str) -> None:
        """Tap the displayed control with this data-testid."""
        self.visible(f"[data-testid='{testid}']").click()

    def visible_text(self, css: str) -> str:
        element = self.element(css)
        return str(element.text) if element.is_displayed() else ""

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.shots / f"{self.prefix}-{name}.png"))
