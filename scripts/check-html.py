#!/usr/bin/env python3
"""Opens the HTML report in Debian's Chromium (through chromium-driver and
selenium) and checks what a reviewer does with it: no console errors, no
request leaving the file, sorting a column reorders rows and sets
aria-sort, the filter box hides the rows that do not match, a severity
chip keeps only its findings, clicking a
caller opens its details, no horizontal
overflow at 794 px in print emulation; saves screen, dark and print
screenshots under target/.

usage: python3 scripts/check-html.py REPORT.html [OUT_DIR]
requires: apt install chromium chromium-driver; pip install selenium
"""
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def driver(width, height, dark=False):
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--window-size={width},{height}"]:
        o.add_argument(a)
    if dark:
        o.add_argument("--blink-settings=preferredColorScheme=0")
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def main():
    html = os.path.abspath(sys.argv[1])
    out = sys.argv[2] if len(sys.argv) > 2 else "target"
    os.makedirs(out, exist_ok=True)
    url = "file://" + html
    failures = []

    d = driver(1280, 1800)
    d.get(url)
    errors = [l for l in d.get_log("browser") if l["level"] == "SEVERE"]
    if errors:
        failures.append(f"console errors: {errors}")
    resources = d.execute_script(
        "return performance.getEntriesByType('resource').map(function(e){return e.name;})")
    outside = [r for r in resources if not r.startswith("file:")]
    if outside:
        failures.append(f"requests leave the file: {outside}")
    # Sorting by events, twice.
    th = d.find_element(By.XPATH, "//table[contains(@class,'sortable')]//th[normalize-space()='events']")
    col = len(th.find_elements(By.XPATH, "preceding-sibling::th"))
    def events():
        cells = d.find_elements(By.XPATH, f"//table[contains(@class,'sortable')]/tbody/tr/td[{col + 1}]")
        return [int(c.text) for c in cells]
    th.click()
    if th.get_attribute("aria-sort") != "ascending" or events() != sorted(events()):
        failures.append(f"sorting ascending: {th.get_attribute('aria-sort')} {events()}")
    th.click()
    if th.get_attribute("aria-sort") != "descending" or events() != sorted(events(), reverse=True):
        failures.append(f"sorting descending: {th.get_attribute('aria-sort')} {events()}")
    # The filter box hides rows that do not match.
    rows = d.find_elements(By.XPATH, "//table[contains(@class,'sortable')]/tbody/tr")
    first = rows[0].find_element(By.TAG_NAME, "td").text.split(" ")[0]
    d.find_element(By.ID, "q").send_keys(first)
    shown = [r for r in rows if r.is_displayed()]
    if not shown or len(shown) == len(rows) or any(first.lower() not in r.text.lower() for r in shown):
        failures.append(f"filter {first!r}: {len(shown)} of {len(rows)} rows shown")
    d.find_element(By.ID, "q").clear()
    d.find_element(By.ID, "q").send_keys(" ")
    d.find_element(By.ID, "q").clear()
    d.execute_script("document.getElementById('q').dispatchEvent(new Event('input'))")
    # A severity chip shows only findings of that severity.
    chips = d.find_elements(By.CSS_SELECTOR, "button.chip")
    high = [c for c in chips if c.text == "high"]
    if not high:
        failures.append("no severity chips")
    else:
        high[0].click()
        shown = [s for s in d.find_elements(By.CSS_SELECTOR, "section.finding") if s.is_displayed()]
        if not shown or any(s.get_attribute("data-severity") != "high" for s in shown) or high[0].get_attribute("aria-pressed") != "true":
            failures.append("the high chip does not keep only high findings")
        high[0].click()
    # Opening a caller shows what it did.
    row = d.find_element(By.XPATH, "//table[contains(@class,'sortable')]/tbody/tr[1]")
    principal = row.get_attribute("data-principal")
    row.click()
    det = d.find_element(By.CSS_SELECTOR, f'details.caller[data-principal="{principal}"]')
    if det.get_attribute("open") is None or "operations" not in det.text:
        failures.append(f"caller {principal}: details not opened ({det.text[:80]!r})")
    d.save_screenshot(os.path.join(out, "report-screen.png"))
    d.quit()

    d = driver(1280, 1800, dark=True)
    d.get(url)
    d.save_screenshot(os.path.join(out, "report-dark.png"))
    d.quit()

    d = driver(794, 1123)
    d.get(url)
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    overflow = d.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        failures.append(f"print at 794 px overflows by {overflow} px")
    d.save_screenshot(os.path.join(out, "report-print.png"))
    d.quit()

    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"{html}: no console errors, no request outside the file, sorting, filter and print width ok; screenshots in {out}/")


if __name__ == "__main__":
    main()
