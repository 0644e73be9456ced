#!/usr/bin/env python3
"""Opens the HTML report in Debian's Chromium (through chromium-driver and
selenium) and checks what a reviewer does with it: no console errors, no
request leaving the file, sorting a column reorders rows and sets
aria-sort, the filter box hides the rows that do not match, a severity
chip keeps only its findings, clicking a
caller opens its details and shows what it read, axe-core (injected from
AXE_JS, the path of axe.min.js from npm's axe-core) reports no serious or
critical violation in light and dark, no horizontal overflow at 794 px in
print emulation; saves screen, dark and print screenshots under OUT_DIR.

usage: AXE_JS=node_modules/axe-core/axe.min.js python3 scripts/check-html.py REPORT.html [OUT_DIR] [--max-mb=N]
       (AXE_JS=skip leaves axe out: it takes minutes on a page of 15,000 rows)
requires: apt install chromium chromium-driver; pip install selenium; npm install axe-core
"""
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


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


def axe(d, what, failures):
    """Runs axe-core in the page; serious and critical violations fail."""
    path = os.environ.get("AXE_JS")
    if path == "skip":
        return 0
    if not path:
        failures.append("AXE_JS is not set: the accessibility check did not run")
        return
    d.execute_script(open(path, encoding="utf-8").read())
    d.set_script_timeout(120)
    res = d.execute_async_script(
        "var done=arguments[arguments.length-1];"
        "axe.run(document,{resultTypes:['violations']}).then(function(r){done(r.violations.map(function(v){"
        "return {id:v.id,impact:v.impact,nodes:v.nodes.length,target:v.nodes.slice(0,3).map(function(n){return n.target.join(' ');})};}));})"
        ".catch(function(e){done([{id:'axe-error',impact:'critical',nodes:0,target:[String(e)]}]);});")
    bad = [v for v in res if v["impact"] in ("serious", "critical")]
    if bad:
        failures.append(f"axe-core ({what}): {bad}")
    return len(res)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--max-mb=")]
    limit = [float(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--max-mb=")]
    html = os.path.abspath(args[0])
    out = args[1] if len(args) > 1 else "target"
    os.makedirs(out, exist_ok=True)
    url = "file://" + html
    failures = []
    if limit and os.path.getsize(html) > limit[0] * 1e6:
        failures.append(f"{html} is {os.path.getsize(html) / 1e6:.2f} MB, over {limit[0]} MB")

    d = driver(1280, 1800)
    d.get(url)
    packed = d.execute_script("return !!document.getElementById('kv-packed')")
    if packed:
        WebDriverWait(d, 30).until(lambda _: d.execute_script("return document.body.hasAttribute('data-unpacked')"))
    timing = d.execute_script(
        "var th=[].find.call(document.querySelectorAll('#caller-table th'),function(h){return h.textContent.trim()==='events';});"
        "var t0=performance.now();th.click();document.body.offsetHeight;var sort=performance.now()-t0;th.click();"
        "var q=document.getElementById('q');t0=performance.now();q.value='kv-';q.dispatchEvent(new Event('input'));document.body.offsetHeight;"
        "var filter=performance.now()-t0;q.value='';q.dispatchEvent(new Event('input'));"
        "return {sort:sort,filter:filter,rows:document.querySelectorAll('tbody tr').length};")
    th0 = d.find_element(By.XPATH, "//table[@id='caller-table']//th[normalize-space()='events']")
    d.execute_script("arguments[0].removeAttribute('aria-sort')", th0)
    errors = [l for l in d.get_log("browser") if l["level"] == "SEVERE"]
    if errors:
        failures.append(f"console errors: {errors}")
    resources = d.execute_script(
        "return performance.getEntriesByType('resource').map(function(e){return e.name;})")
    outside = [r for r in resources if not r.startswith("file:")]
    if outside:
        failures.append(f"requests leave the file: {outside}")
    # Sorting by events, twice.
    th = d.find_element(By.XPATH, "//table[@id='caller-table']//th[normalize-space()='events']")
    col = len(th.find_elements(By.XPATH, "preceding-sibling::th"))
    def events():
        return d.execute_script(
            "return [].map.call(document.querySelectorAll('#caller-table tbody tr'),"
            "function(r){return parseInt(r.cells[arguments[0]].textContent,10);});".replace("arguments[0]", str(col)))
    th.click()
    if th.get_attribute("aria-sort") != "ascending" or events() != sorted(events()):
        failures.append(f"sorting ascending: {th.get_attribute('aria-sort')} {events()}")
    th.click()
    if th.get_attribute("aria-sort") != "descending" or events() != sorted(events(), reverse=True):
        failures.append(f"sorting descending: {th.get_attribute('aria-sort')} {events()}")
    # The filter box hides rows that do not match.
    # Typed into the box, a caller's principal id hides every other body
    # row of every table.
    principal = d.execute_script(
        "return [].find.call(document.querySelectorAll('#caller-table tbody tr'),function(r){return r.getAttribute('data-principal');}).getAttribute('data-principal');")
    d.find_element(By.ID, "q").send_keys(principal)
    # Rows shown (display not none), counted in the page: thousands of
    # WebDriver round trips would take minutes.
    count = ("return [].filter.call(document.querySelectorAll(arguments[0]),"
             "function(r){return r.offsetParent!==null;}).map(function(r){return r.getAttribute('data-principal')||r.textContent.slice(0,40);});")
    every = d.execute_script("return document.querySelectorAll('table tbody tr').length")
    shown = d.execute_script(count, "table tbody tr")
    callers_shown = d.execute_script(count, "#caller-table tbody tr")
    if callers_shown != [principal]:
        failures.append(f"filter {principal!r}: caller rows shown {callers_shown[:5]}")
    if len(shown) >= every:
        failures.append(f"filter {principal!r}: no row hidden")
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
    # Opening a caller shows what it did and what it read.
    rows = d.find_elements(By.XPATH, "//table[@id='caller-table']/tbody/tr")
    opened = None
    for row in rows[:40]:
        principal = row.get_attribute("data-principal")
        d.execute_script("arguments[0].scrollIntoView()", row)
        row.click()
        det = d.find_element(By.CSS_SELECTOR, f'details.caller[data-principal="{principal}"]')
        WebDriverWait(d, 5).until(lambda _: det.find_elements(By.CSS_SELECTOR, "dl"))
        if det.get_attribute("open") is None:
            failures.append(f"caller {principal}: clicking its row did not open its detail")
            break
        read = det.find_element(By.XPATH, ".//dt[.='objects read']/following-sibling::dd[1]")
        if read.text and read.text != "nothing":
            if " in " not in read.text or "operations" not in det.text:
                failures.append(f"caller {principal}: objects read shown as {read.text[:80]!r}")
            opened = principal
            break
    if opened is None:
        failures.append("no caller detail shows an object it read")
    d.execute_script("window.scrollTo(0,0)")
    d.save_screenshot(os.path.join(out, "report-screen.png"))
    n = axe(d, "light", failures)
    d.quit()

    d = driver(1280, 1800, dark=True)
    d.get(url)
    axe(d, "dark", failures)
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
    print(f"{html}: {os.path.getsize(html) / 1e6:.2f} MB, {timing['rows']} table rows{' (packed)' if packed else ''}; "
          f"sorting the callers by events {timing['sort']:.0f} ms, filtering every table {timing['filter']:.0f} ms")
    print(f"{html}: no console errors, no request outside the file; sorting, filter, chips, caller detail and print width ok; "
          f"axe-core: no serious or critical violation ({n} minor); screenshots in {out}/")


if __name__ == "__main__":
    main()
