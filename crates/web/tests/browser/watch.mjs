import { chromium } from "playwright-core";

/// Headless Debian Chromium (`$CHROMIUM`), kept off the network beyond loopback.
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
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
