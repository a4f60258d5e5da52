import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/// The two screens every page must work on: a 1280 px laptop and a 390 px phone.
export const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
];

/// Headless Debian Chromium (`$CHROMIUM`), kept off the network beyond loopback.
/// `$BROWSER_HOST_RULES` (e.g. `MAP payments.test 10.96.0.10`) resolves host names the way a DNS
/// record would, for a test that goes through an ingress.
export async function launch() {
  const args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"];
  if (process.env.BROWSER_HOST_RULES) { args.push(`--host-resolver-rules=${process.env.BROWSER_HOST_RULES}`); }
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args,
  });
}

/// A page's options: `$BROWSER_USER`/`$BROWSER_PASSWORD` answer an authenticating proxy's
/// challenge; `$BROWSER_IGNORE_CERTIFICATE_ERRORS=1` accepts a test's self-signed certificate.
export function pageOptions(viewport) {
  const options = { viewport };
  if (process.env.BROWSER_USER) {
    options.httpCredentials = { username: process.env.BROWSER_USER, password: process.env.BROWSER_PASSWORD ?? "" };
  }
  if (process.env.BROWSER_IGNORE_CERTIFICATE_ERRORS === "1") { options.ignoreHTTPSErrors = true; }
  return options;
}

/// Every absolute `http://` address the page links to, loads or posts to: on an HTTPS page each
/// would be mixed content or a step off the secure connection.
export async function insecureLinks(page) {
  return page.evaluate(() => [...document.querySelectorAll("[href], [src], [action]")]
    .map((e) => e.getAttribute("href") ?? e.getAttribute("src") ?? e.getAttribute("action"))
    .filter((url) => /^http:\/\//i.test(url ?? "")));
}

// What a page complained about, across navigations: console errors, uncaught exceptions, failed
// responses, and every Content-Security-Policy violation (reported by the document's own
// `securitypolicyviolation` event, so a refused inline script or style cannot go unnoticed).
export async function watch(page) {
  const errors = [];
  const violations = [];
  await page.exposeFunction("__paymentsCspViolation", (v) => violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__paymentsCspViolation(`${e.effectiveDirective} refused ${e.blockedURI || "inline"} on ${location.pathname}`);
    });
  });
  // Failed requests are told by their URL below; the browser's own favicon request is not ours.
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) { errors.push(message.text()); }
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("response", (response) => {
    if (response.status() >= 400 && new URL(response.url()).pathname !== "/favicon.ico") {
      errors.push(`${response.status()} ${response.url()}`);
    }
  });
  return { errors, violations };
}

// What a person would trip over on the page as it is now: a page wider than the screen (it
// scrolls sideways), axe-core's serious and critical accessibility violations, machine times
// (RFC 3339) or literal backticks in the visible text. axe is evaluated through the DevTools
// protocol, which the page's Content-Security-Policy does not govern, so the policy stays as
// strict as in production.
export async function inspect(page) {
  const shown = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    rawTimes: (document.body.innerText.match(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}[^\s]*/g) || []).slice(0, 5),
    backticks: document.body.innerText.includes("`"),
  }));
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.evaluate(AXE);
  }
  const axe = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  return {
    overflow: shown.scrollWidth > shown.clientWidth,
    scrollWidth: shown.scrollWidth,
    clientWidth: shown.clientWidth,
    rawTimes: shown.rawTimes,
    backticks: shown.backticks,
    axe,
  };
}
