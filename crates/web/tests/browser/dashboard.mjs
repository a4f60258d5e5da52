// Opens /dashboard in headless Chromium, waits for one live refresh, saves a full-page
// screenshot and prints what every chart showed as JSON, with any console errors (a
// Content-Security-Policy violation is one).
// Usage: node dashboard.mjs BASE_URL SCREENSHOT_PATH
import { launch, watch } from "./watch.mjs";

const [base, screenshot] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const { errors, violations } = await watch(page);
  const response = await page.goto(`${base}/dashboard`);
  const charts = () => page.evaluate(() => Array.from(document.querySelectorAll("[data-question]"), (element) => ({
    slug: element.getAttribute("data-question"),
    display: element.getAttribute("data-display"),
    points: Number(element.getAttribute("data-points") || 0),
    // What is drawn: SVG marks, or table rows below the header.
    drawn: element.querySelectorAll("svg .mark").length + Math.max(element.querySelectorAll("table tr").length - 1, 0),
    empty: element.textContent.includes("No data yet"),
    failed: element.querySelector(".chart-failed") !== null,
    visible: element.getBoundingClientRect().height > 0,
  })));
  const first = await charts();
  // The live refresh swaps the charts in after REFRESH_SECONDS.
  await page.waitForFunction(() => document.getElementById("charts")?.hasAttribute("data-refreshed"), null, { timeout: 30000 });
  const refreshed = await charts();
  const navigation = await page.evaluate(() => Array.from(document.querySelectorAll("header nav a"), (a) => a.getAttribute("href")));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ status: response.status(), first, refreshed, navigation, errors, violations }));
} finally {
  await browser.close();
}
