// GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
// The provisioning playbook's provision.html in Debian's headless Chromium, driven by playwright-core.
// Input: NODEPREP_PROVISION_REPORT_DIR (provision.html + provision.json made by make_provision_report.py).
// Output: provision.png in the same directory (artifact).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const reportDir = path.resolve(process.env.NODEPREP_PROVISION_REPORT_DIR
  || path.join(root, "tests", "output", "browser", "provision"));
const modulesDir = process.env.NODEPREP_BROWSER_MODULES || path.join(root, "build", "browser", "node_modules");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const { chromium } = await import(pathToFileURL(path.join(modulesDir, "playwright-core", "index.mjs")).href);

const report = JSON.parse(fs.readFileSync(path.join(reportDir, "provision.json"), "utf8"));
const reportUrl = pathToFileURL(path.join(reportDir, "provision.html")).href;

let context;
let page;
let userDataDir;
const pageErrors = [];
const networkRequests = [];

before(async () => {
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nodeprep-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url === reportUrl) {
      return route.continue();
    }
    networkRequests.push(url);
    return route.abort();
  });
  page = context.pages()[0] || await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  await page.goto(reportUrl);
});

after(async () => {
  await context?.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
});

test("the rollout stopped at the failing batch, as provision.json says", async () => {
  assert.equal(report.verdict, "fail");
  assert.deepEqual(report.failing_hosts, ["node-3-blocked"]);
  assert.equal(await page.locator("#verdict").textContent(), "FAIL");
  const summary = await page.locator("#summary").textContent();
  assert.match(summary, /rollout stopped, untouched: node-4, node-5/);
});

test("one row per host, in batch order, untouched hosts last", async () => {
  const rows = await page.locator("#hosts tbody tr").evaluateAll(
    (trs) => trs.map((tr) => [tr.dataset.host, tr.className]));
  assert.deepEqual(rows, report.hosts.map((host) => [host.host, `v-${host.verdict}`]));
  assert.deepEqual(rows.map((row) => row[0]), ["node-1", "node-2", "node-3-blocked", "node-4", "node-5"]);
  const batches = await page.locator("#batches tbody tr").count();
  assert.equal(batches, report.batches.length);
});

test("the failed host's details are open and name the reason", async () => {
  const details = page.locator('details.host[data-host="node-3-blocked"]');
  assert.equal(await details.getAttribute("open"), "");
  assert.match(await details.locator("li.problem").first().textContent(), /at or above fail_on=high/);
  assert.equal(await page.locator('details.host[data-host="node-4"]').count(), 0);
});

test("the page is self-contained and raises no error", async () => {
  await page.screenshot({ path: path.join(reportDir, "provision.png"), fullPage: true });
  assert.deepEqual(networkRequests, []);
  assert.deepEqual(pageErrors, []);
});
