// The history and the approvals queue in a real browser, at both screen sizes, as USER (the
// authenticating proxy's header): every page of the history followed by its "Next page" link,
// the filter form filled in and submitted (then its pages followed), and the queue. Prints
// the import ids each listed, in order, and whether any page scrolled sideways.
// Usage: node history.mjs BASE_URL USER FILTERS_JSON
//   FILTERS_JSON: {"status", "started_by", "file", "from", "to", "order"} as the form takes them
import { launch, watch, VIEWPORTS } from "./watch.mjs";

const [base, user, filtersJson] = process.argv.slice(2);
const filters = JSON.parse(filtersJson);
const browser = await launch();

// The ids a list shows on every page from here on, following "Next page".
async function allPages(page, overflowing) {
  const ids = [];
  for (let pages = 0; pages < 100; pages++) {
    const shown = await page.evaluate(() => ({
      ids: Array.from(document.querySelectorAll("tr[data-import]"), (tr) => tr.getAttribute("data-import")),
      overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth,
      next: document.getElementById("next-page") !== null,
    }));
    ids.push(...shown.ids);
    if (shown.overflow) { overflowing.push(page.url()); }
    if (!shown.next) { break; }
    await Promise.all([page.waitForNavigation(), page.click("#next-page")]);
  }
  return ids;
}

try {
  const report = [];
  const errors = [];
  const violations = [];
  for (const viewport of VIEWPORTS) {
    const context = await browser.newContext({ viewport, extraHTTPHeaders: { "X-Forwarded-User": user } });
    const page = await context.newPage();
    const watched = await watch(page);
    const overflowing = [];

    await page.goto(`${base}/imports`);
    const firstPage = await page.evaluate(() => document.querySelectorAll("tr[data-import]").length);
    const all = await allPages(page, overflowing);

    await page.goto(`${base}/imports`);
    await page.selectOption("#f-status", filters.status);
    await page.fill("#f-started-by", filters.started_by);
    await page.fill("#f-file", filters.file);
    await page.fill("#f-from", filters.from);
    await page.fill("#f-to", filters.to);
    await page.selectOption("#f-order", filters.order);
    // Submitted from the keyboard, as a person without a mouse would.
    await page.focus("#f-file");
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
    const filteredUrl = new URL(page.url());
    const filtered = await allPages(page, overflowing);

    await page.goto(`${base}/approvals`);
    const badge = await page.evaluate(() => document.getElementById("approvals-count")?.firstChild?.textContent ?? null);
    const approvals = await allPages(page, overflowing);

    report.push({ width: viewport.width, firstPage, all, filtered, filteredQuery: filteredUrl.search, approvals, badge, overflowing });
    errors.push(...watched.errors);
    violations.push(...watched.violations);
    await context.close();
  }
  console.log(JSON.stringify({ report, errors, violations }));
} finally {
  await browser.close();
}
