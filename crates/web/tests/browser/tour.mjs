// Visits every page at both screen sizes (1280×800 and 390×844) as one identity (the
// authenticating proxy's header): checks the page fits the screen, runs axe-core, looks for
// machine text, tries the keyboard's first stop (the skip link), and saves a full-page
// screenshot of each and one of its first screenful. Prints one JSON report.
// Usage: node tour.mjs BASE_URL USER OUT_DIR PAGES_JSON   (PAGES_JSON: [{"name", "path"}])
import { launch, watch, inspect, VIEWPORTS } from "./watch.mjs";

const [base, user, outDir, pagesJson] = process.argv.slice(2);
const pages = JSON.parse(pagesJson);
const browser = await launch();
try {
  const results = [];
  const errors = [];
  const violations = [];
  for (const viewport of VIEWPORTS) {
    const context = await browser.newContext({ viewport, extraHTTPHeaders: { "X-Forwarded-User": user } });
    const page = await context.newPage();
    const watched = await watch(page);
    for (const { name, path } of pages) {
      const response = await page.goto(`${base}${path}`, { waitUntil: "load" });
      const screenshot = `${outDir}/${name}-${viewport.width}.png`;
      await page.screenshot({ path: screenshot, fullPage: true });
      // The first screenful too, the size a README picture wants.
      await page.screenshot({ path: `${outDir}/${name}-${viewport.width}-top.png` });
      const found = await inspect(page);
      // The first Tab from the top of the page reaches the skip link, which leads to the content.
      await page.keyboard.press("Tab");
      const skipLink = await page.evaluate(() => document.activeElement?.classList.contains("skip") === true
        && document.activeElement.getAttribute("href") === "#main" && document.getElementById("main") !== null);
      results.push({ name, path, width: viewport.width, status: response.status(), skipLink, screenshot, ...found });
    }
    errors.push(...watched.errors);
    violations.push(...watched.violations);
    await context.close();
  }
  console.log(JSON.stringify({ results, errors, violations }));
} finally {
  await browser.close();
}
