// GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
// The fleet audit's report.html in Debian's headless Chromium, driven by playwright-core (no browser download).
// Input: NODEPREP_FLEET_REPORT_DIR (report.html + report.json made by make_fleet_report.py).
// Output: report.png and report-filtered-high.png in the same directory (test artifacts).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const reportDir = path.resolve(process.env.NODEPREP_FLEET_REPORT_DIR || path.join(root, "tests", "output", "browser"));
const modulesDir = process.env.NODEPREP_BROWSER_MODULES || path.join(root, "build", "browser", "node_modules");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const { chromium } = await import(pathToFileURL(path.join(modulesDir, "playwright-core", "index.mjs")).href);

const report = JSON.parse(fs.readFileSync(path.join(reportDir, "report.json"), "utf8"));
const reportUrl = pathToFileURL(path.join(reportDir, "report.html")).href;
const SEVERITIES = ["high", "medium", "low", "info", "none"];

let context;
let page;
let userDataDir;
const pageErrors = [];
const consoleErrors = [];
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
  // The report must be self-contained: record and refuse anything that is not the file itself.
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
  page.on("console", (message) => { if (message.type() === "error") consoleErrors.push(message.text()); });
  await page.goto(reportUrl);
  await page.waitForSelector("body[data-ready=true]");
});

after(async () => {
  if (context) {
    await context.close();
  }
  fs.rmSync(userDataDir, { recursive: true, force: true });
});

async function visibleHostRows() {
  return page.$$eval("#hosts tbody tr", (rows) => rows.filter((r) => !r.hidden).map((r) => r.dataset.host));
}

async function visibleFindingSeverities() {
  return page.$$eval("#findings tbody tr", (rows) => rows.filter((r) => !r.hidden).map((r) => r.dataset.severity));
}

async function onlySeverities(wanted) {
  for (const severity of SEVERITIES) {
    await page.setChecked(`input.sev-filter[value="${severity}"]`, wanted.includes(severity));
  }
}

function hostsWithAny(severities) {
  return report.hosts
    .filter((h) => (h.findings.length === 0 ? ["none"] : h.findings.map((f) => f.severity)).some((s) => severities.includes(s)))
    .map((h) => h.host).sort();
}

test("every host renders as a row, unreachable and failed hosts included", async () => {
  const rows = await page.$$eval("#hosts tbody tr", (trs) => trs.map((r) => ({
    host: r.dataset.host, status: r.dataset.status, cells: Array.from(r.cells, (c) => c.textContent.trim()),
  })));
  assert.deepEqual(rows.map((r) => r.host).sort(), report.hosts.map((h) => h.host).sort());
  const byHost = Object.fromEntries(rows.map((r) => [r.host, r]));
  for (const host of report.hosts) {
    assert.equal(byHost[host.host].status, host.status, host.host);
    assert.equal(byHost[host.host].cells[1], host.status);
  }
  assert.ok(rows.some((r) => r.status === "unreachable"), "an unreachable host is listed");
  assert.ok(byHost["fixture-false-positive"].cells[2].includes("+false-positive"));
  const findingRows = await page.$$eval("#findings tbody tr", (trs) => trs.length);
  assert.equal(findingRows, report.hosts.reduce((n, h) => n + h.findings.length, 0));
  assert.match(await page.textContent("#verdict"), /FAIL/);
  await page.screenshot({ path: path.join(reportDir, "report.png"), fullPage: true });
  assert.ok(fs.statSync(path.join(reportDir, "report.png")).size > 10000, "screenshot written");
});

test("each finding shows its remediation and reference", async () => {
  const blocked = await page.$$eval('#findings tbody tr[data-host="fixture-blocked"][data-code="BR_NETFILTER_BLOCKED"]',
    (trs) => trs.map((r) => ({ remediation: r.cells[5].textContent, links: Array.from(r.cells[6].querySelectorAll("a"), (a) => a.href) })));
  assert.equal(blocked.length, 1);
  assert.match(blocked[0].remediation, /Remove or comment out that line/);
  assert.deepEqual(blocked[0].links, ["https://man7.org/linux/man-pages/man5/modprobe.d.5.html"]);
});

test("filtering by severity shows only matching findings and hosts", async () => {
  await onlySeverities(["high"]);
  const severities = await visibleFindingSeverities();
  const expectedHigh = report.hosts.reduce((n, h) => n + h.findings.filter((f) => f.severity === "high").length, 0);
  assert.equal(severities.length, expectedHigh);
  assert.ok(severities.every((s) => s === "high"));
  assert.deepEqual((await visibleHostRows()).sort(), hostsWithAny(["high"]));
  assert.ok(!(await visibleHostRows()).includes("fixture-healthy"));
  await page.screenshot({ path: path.join(reportDir, "report-filtered-high.png"), fullPage: true });

  await onlySeverities(["info"]);
  assert.ok((await visibleFindingSeverities()).every((s) => s === "info"));
  assert.deepEqual((await visibleHostRows()).sort(), hostsWithAny(["info"]));

  await onlySeverities(SEVERITIES);
  assert.equal((await visibleHostRows()).length, report.hosts.length);
  assert.match(await page.textContent("#shown-count"), new RegExp(`^${report.hosts.length} of ${report.hosts.length} hosts`));
});

test("host name filter and the failing-only switch narrow the view", async () => {
  await page.fill("#host-filter", "blocked");
  assert.deepEqual(await visibleHostRows(), ["fixture-blocked"]);
  const findingHosts = await page.$$eval("#findings tbody tr", (rows) => [...new Set(rows.filter((r) => !r.hidden).map((r) => r.dataset.host))]);
  assert.deepEqual(findingHosts, ["fixture-blocked"]);
  await page.fill("#host-filter", "");
  await page.setChecked("#failing-only", true);
  assert.deepEqual((await visibleHostRows()).sort(), [...report.failing_hosts].sort());
  await page.setChecked("#failing-only", false);
});

test("clicking a column header sorts the hosts table", async () => {
  const header = page.locator("#hosts thead th", { hasText: /^Host$/ });
  await header.click();
  const ascending = await page.$$eval("#hosts tbody tr", (rows) => rows.map((r) => r.dataset.host));
  assert.deepEqual(ascending, [...ascending].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)));
  await header.click();
  const descending = await page.$$eval("#hosts tbody tr", (rows) => rows.map((r) => r.dataset.host));
  assert.deepEqual(descending, [...ascending].reverse());
  const worst = page.locator("#hosts thead th", { hasText: /^Worst Finding$/ });
  await worst.click();
  await worst.click();
  const firstWorst = await page.$eval("#hosts tbody tr", (r) => r.dataset.worst);
  assert.equal(firstWorst, "high");
});

test("the page loads nothing from the network and raises no script error", async () => {
  assert.deepEqual(networkRequests, []);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(consoleErrors, []);
});
