// Uploads a CSV through the real upload page in headless Chromium, waits until the import's
// progress reaches "done", saves a full-page screenshot and prints what the page showed as JSON,
// with any console errors and Content-Security-Policy violations on either page, and any absolute
// http:// address either page names (through an HTTPS front door, that would be mixed content).
// Usage: node upload.mjs BASE_URL CSV_PATH SCREENSHOT_PATH
import { insecureLinks, launch, pageOptions, watch } from "./watch.mjs";

const [base, csv, screenshot] = process.argv.slice(2);
const browser = await launch();
try {
  const context = await browser.newContext(pageOptions({ width: 1280, height: 900 }));
  const page = await context.newPage();
  const { errors, violations } = await watch(page);
  await page.goto(`${base}/imports/new`);
  // The page's own script (a static file) took over the form: proof it was allowed to run.
  // Told, not thrown: a refused script must show up as the policy violation it is.
  const scriptRan = await page.waitForFunction(() => document.documentElement.hasAttribute("data-upload-ready"), null, { timeout: 10000 })
    .then(() => true, () => false);
  const insecure = await insecureLinks(page);
  await page.setInputFiles("input[type=file]", csv);
  await Promise.all([
    page.waitForURL(/\/imports\/[0-9a-f-]{36}$/, { timeout: 60000 }),
    page.click("input[type=submit]"),
  ]);
  await page.waitForFunction(() => document.getElementById("c-status")?.getAttribute("data-status") === "done", null, { timeout: 60000 });
  // Once done, the page takes the final banner from the server (when it was opened before).
  await page.waitForFunction(() => document.getElementById("outcome")?.getAttribute("data-outcome") !== "in_progress", null, { timeout: 30000 });
  const shown = await page.evaluate(() => ({
    url: location.pathname,
    status: document.getElementById("c-status").getAttribute("data-status"),
    published: Number(document.getElementById("c-published").textContent),
    ingested: Number(document.getElementById("c-ingested").textContent),
    duplicates: document.querySelectorAll("#duplicates tbody tr").length,
    suspicious: document.querySelectorAll("#suspicious tbody tr").length,
    outcome: document.getElementById("outcome")?.getAttribute("data-outcome") ?? "",
    outcomeClass: document.getElementById("outcome")?.className ?? "",
    message: document.getElementById("outcome")?.textContent ?? "",
  }));
  shown.scriptRan = scriptRan;
  shown.insecure = [...insecure, ...(await insecureLinks(page))];
  shown.errors = errors;
  shown.violations = violations;
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify(shown));
} finally {
  await browser.close();
}
