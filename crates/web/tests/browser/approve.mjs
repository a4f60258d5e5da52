// Maker-checker in a real browser: alice uploads a file asking for approval; her own Approve
// is refused; bob (another identity, as the authenticating proxy would name him) approves it
// and it reaches done; a second upload of alice's is rejected by bob with a note. Identities
// are the proxy's header, sent by each browser context. Prints what the pages showed as JSON.
// Usage: node approve.mjs BASE_URL CSV_PATH OTHER_CSV_PATH
import { launch, watch } from "./watch.mjs";

const [base, csv, otherCsv] = process.argv.slice(2);
const browser = await launch();
const as = async (user) => {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    extraHTTPHeaders: { "X-Forwarded-User": user },
  });
  const page = await context.newPage();
  return { page, ...(await watch(page)) };
};
const status = (page) => page.evaluate(() => document.getElementById("c-status")?.getAttribute("data-status"));
const upload = async (page, file) => {
  await page.goto(`${base}/imports/new`);
  await page.check("input[name=require_approval]");
  await page.setInputFiles("input[type=file]", file);
  await Promise.all([
    page.waitForURL(/\/imports\/[0-9a-f-]{36}$/, { timeout: 60000 }),
    page.click("input[type=submit]"),
  ]);
  return page.url();
};
const decide = async (page, button) => {
  await Promise.all([page.waitForNavigation(), page.click(button)]);
};
try {
  const alice = await as("alice");
  const bob = await as("bob");
  const shown = {};

  const first = await upload(alice.page, csv);
  shown.waiting = await status(alice.page);
  shown.approvalShown = await alice.page.isVisible("#approval");
  await decide(alice.page, "#approve");
  shown.aliceRefused = await alice.page.evaluate(() => document.body.textContent.includes("second person must"));

  await bob.page.goto(first);
  await decide(bob.page, "#approve");
  await bob.page.waitForFunction(() => document.getElementById("c-status")?.getAttribute("data-status") === "done", null, { timeout: 60000 });
  shown.approved = await status(bob.page);
  shown.decidedBy = await bob.page.evaluate(() => document.getElementById("decided-by")?.textContent);

  const second = await upload(alice.page, otherCsv);
  await bob.page.goto(second);
  await bob.page.fill("input[name=note]", "not ours");
  await decide(bob.page, "#reject");
  shown.rejected = await status(bob.page);
  shown.rejectionShown = await bob.page.evaluate(() => document.getElementById("decision-record")?.textContent ?? "");

  // Alice's refused approval answered 403: that one is expected, nothing else.
  shown.aliceErrors = alice.errors;
  shown.errors = bob.errors;
  shown.violations = [...alice.violations, ...bob.violations];
  console.log(JSON.stringify(shown));
} finally {
  await browser.close();
}
