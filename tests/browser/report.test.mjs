// GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
// The fleet audit's report.html in Debian's headless Chromium, driven by playwright-core (no browser download).
// Input: NODEPREP_FLEET_REPORT_DIR (report.html + report.json made by make_fleet_report.py, and synthetic/ made by
// make_synthetic_report.py: the same page for 1,000 hosts).
// Output: report.png, report-filtered-high.png and synthetic/report-1000.png in the same directory (artifacts),
// and the 1,000-host open and filter times on stdout.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const reportDir = path.resolve(process.env.NODEPREP_FLEET_REPORT_DIR || path.join(root, "tests", "output", "browser"));
const syntheticDir = path.join(reportDir, "synthetic");
const modulesDir = process.env.NODEPREP_BROWSER_MODULES || path.join(root, "build", "browser", "node_modules");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const { chromium } = await import(pathToFileURL(path.join(modulesDir, "playwright-core", "index.mjs")).href);

const report = JSON.parse(fs.readFileSync(path.join(reportDir, "report.json"), "utf8"));
const reportUrl = pathToFileURL(path.join(reportDir, "report.html")).href;
const synthetic = JSON.parse(fs.readFileSync(path.join(syntheticDir, "report.json"), "utf8"));
const syntheticUrl = pathToFileURL(path.join(syntheticDir, "report.html")).href;
const SEVERITIES = ["high", "medium", "low", "info", "none"];
// Opening the 1,000-host page and applying a filter must each take less than this.
const BUDGET_MS = 1000;

let context;
let page;
let userDataDir;
const pageErrors = [];
const consoleErrors = [];
const networkRequests = [];

function watch(target) {
  target.on("pageerror", (error) => pageErrors.push(String(error)));
  target.on("console", (message) => { if (message.type() === "error") { consoleErrors.push(message.text()); } });
}

before(async () => {
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nodeprep-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // The report must be self-contained: record and refuse anything that is not one of the two files.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url === reportUrl || url === syntheticUrl) {
      return route.continue();
    }
    networkRequests.push(url);
    return route.abort();
  });
  page = context.pages()[0] || await context.newPage();
  watch(page);
  await page.goto(reportUrl);
  await page.waitForSelector("body[data-ready=true]");
});

after(async () => {
  if (context) {
    await context.close();
  }
  fs.rmSync(userDataDir, { recursive: true, force: true });
});

async function hostRows(target = page) {
  return target.$$eval("#hosts tbody tr.host-row", (rows) => rows.map((r) => r.dataset.host));
}

async function codeRows(target = page) {
  return target.$$eval("#codes tbody tr", (rows) => rows.filter((r) => !r.hidden).map((r) => ({
    code: r.dataset.code, severities: r.dataset.severities.split(" "), count: r.querySelector(".count").textContent,
  })));
}

async function onlySeverities(wanted) {
  for (const severity of SEVERITIES) {
    await page.setChecked(`input.sev-filter[value="${severity}"]`, wanted.includes(severity));
  }
}

function severitiesOf(host) {
  return host.findings.length === 0 ? ["none"] : host.findings.map((f) => f.severity);
}

function hostsWithAny(severities, data = report) {
  return data.hosts.filter((h) => severitiesOf(h).some((s) => severities.includes(s))).map((h) => h.host).sort();
}

function codesOf(data) {
  const codes = new Map();
  for (const host of data.hosts) {
    for (const finding of host.findings) {
      if (!codes.has(finding.code)) { codes.set(finding.code, new Set()); }
      codes.get(finding.code).add(host.host);
    }
  }
  return codes;
}

test("the page leads with the summary picture of the fleet", async () => {
  assert.match(await page.textContent("#verdict"), /FAIL/);
  const legend = await page.$$eval("#charts li[data-key]", (items) => items.map((li) => [li.dataset.key, Number(li.dataset.count)]));
  const counts = Object.fromEntries(legend);
  assert.equal(counts.fail, report.failing_hosts.length);
  assert.equal(counts.pass, report.hosts.length - report.failing_hosts.length);
  for (const status of ["ok", "failed", "unreachable", "not_run"]) {
    assert.equal(counts[status], report.summary.status[status], status);
  }
  for (const severity of SEVERITIES) {
    assert.equal(counts[severity], report.summary.hosts_by_worst_severity[severity], severity);
  }
  // The bars are drawn: each non-empty segment has a width in proportion to its count.
  const widths = await page.$$eval("#chart-status .seg", (segs) => segs.map((s) => s.getBoundingClientRect().width));
  assert.equal(widths.length, Object.values(report.summary.status).filter((n) => n > 0).length);
  assert.ok(widths.every((w) => w > 1));
});

test("findings are grouped by code, one row each, with the hosts expandable", async () => {
  const codes = codesOf(report);
  const rows = await codeRows();
  assert.deepEqual(rows.map((r) => r.code).sort(), [...codes.keys()].sort());
  for (const row of rows) {
    assert.equal(row.count, String(codes.get(row.code).size), row.code);
  }
  const blocked = page.locator('#codes tr[data-code="BR_NETFILTER_BLOCKED"]');
  assert.match(await blocked.locator("td").nth(4).textContent(), /Remove or comment out that line/);
  assert.deepEqual(await blocked.locator("td").nth(5).locator("a").evaluateAll((links) => links.map((a) => a.href)),
    ["https://man7.org/linux/man-pages/man5/modprobe.d.5.html"]);
  assert.equal(await blocked.locator(".host-list li").count(), 0, "host lists are filled when opened");
  await blocked.locator("summary").click();
  const listed = await blocked.locator(".host-list li").evaluateAll((items) => items.map((li) => [li.dataset.host, li.textContent]));
  assert.deepEqual(listed.map(([host]) => host), ["fixture-blocked"]);
  assert.match(listed[0][1], /\/etc\/modprobe\.d\//);
  await blocked.locator("summary").click();
});

test("every host has a row; its details open on demand", async () => {
  const rows = await page.$$eval("#hosts tbody tr.host-row", (trs) => trs.map((r) => ({
    host: r.dataset.host, status: r.dataset.status, cells: Array.from(r.cells, (c) => c.textContent.trim()),
  })));
  assert.deepEqual(rows.map((r) => r.host), report.hosts.map((h) => h.host));
  const byHost = Object.fromEntries(rows.map((r) => [r.host, r]));
  for (const host of report.hosts) {
    assert.equal(byHost[host.host].status, host.status, host.host);
    assert.equal(byHost[host.host].cells[1], host.status);
    assert.equal(byHost[host.host].cells[8], String(host.findings.length));
  }
  assert.ok(byHost["fixture-false-positive"].cells[2].includes("+false-positive"));
  assert.equal(await page.locator("#hosts tr.detail-row").count(), 0, "no host is expanded up front");
  await page.screenshot({ path: path.join(reportDir, "report.png"), fullPage: true });
  assert.ok(fs.statSync(path.join(reportDir, "report.png")).size > 10000, "screenshot written");

  await page.click('#hosts tr.host-row[data-host="fixture-healthy"]');
  const detail = page.locator('#hosts tr.detail-row[data-detail-for="fixture-healthy"]');
  assert.match(await detail.locator("table.sysctls").textContent(), /\/etc\/sysctl\.d\/k8s\.conf line \d+ \(= 1\)/);
  const healthy = report.hosts.find((h) => h.host === "fixture-healthy");
  assert.deepEqual(await detail.locator("ul.findings li").evaluateAll((items) => items.map((li) => li.dataset.code)),
    healthy.findings.map((f) => f.code));
  await page.click('#hosts tr.host-row[data-host="fixture-healthy"]');
  assert.equal(await page.locator("#hosts tr.detail-row").count(), 0);
});

test("filtering by severity shows only matching codes and hosts", async () => {
  await onlySeverities(["high"]);
  const high = await codeRows();
  assert.ok(high.length > 0 && high.every((r) => r.severities.includes("high")));
  assert.deepEqual((await hostRows()).sort(), hostsWithAny(["high"]));
  assert.ok(!(await hostRows()).includes("fixture-healthy"));
  await page.screenshot({ path: path.join(reportDir, "report-filtered-high.png"), fullPage: true });

  await onlySeverities(["info"]);
  assert.ok((await codeRows()).every((r) => r.severities.includes("info")));
  assert.deepEqual((await hostRows()).sort(), hostsWithAny(["info"]));

  await onlySeverities(SEVERITIES);
  assert.equal((await hostRows()).length, report.hosts.length);
  assert.match(await page.textContent("#shown-count"), new RegExp(`^${report.hosts.length} of ${report.hosts.length} hosts`));
});

test("host name, code and failing-only filters narrow the view", async () => {
  await page.fill("#host-filter", "blocked");
  assert.deepEqual(await hostRows(), ["fixture-blocked"]);
  const blockedCodes = new Set(report.hosts.find((h) => h.host === "fixture-blocked").findings.map((f) => f.code));
  assert.deepEqual((await codeRows()).map((r) => r.code).sort(), [...blockedCodes].sort());
  await page.fill("#host-filter", "");
  await page.selectOption("#code-filter", "HOST_UNREACHABLE");
  assert.deepEqual(await hostRows(), ["down"]);
  assert.deepEqual((await codeRows()).map((r) => r.code), ["HOST_UNREACHABLE"]);
  await page.selectOption("#code-filter", "");
  await page.setChecked("#failing-only", true);
  assert.deepEqual((await hostRows()).sort(), [...report.failing_hosts].sort());
  await page.setChecked("#failing-only", false);
});

test("a link with #host=NAME and #severity= opens the page filtered, that host's details open", async () => {
  const linked = await context.newPage();
  watch(linked);
  await linked.goto(`${reportUrl}#severity=high&host=fixture-blocked`);
  await linked.waitForSelector("body[data-ready=true]");
  assert.deepEqual(await hostRows(linked), ["fixture-blocked"]);
  assert.equal(await linked.locator('#hosts tr.detail-row[data-detail-for="fixture-blocked"]').count(), 1);
  assert.deepEqual(await linked.$$eval("input.sev-filter:checked", (boxes) => boxes.map((b) => b.value)), ["high"]);
  await linked.close();
});

test("clicking a column header sorts the hosts table", async () => {
  const header = page.locator("#hosts thead th", { hasText: /^Host$/ });
  await header.click();
  const ascending = await hostRows();
  assert.deepEqual(ascending, [...ascending].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)));
  await header.click();
  assert.deepEqual(await hostRows(), [...ascending].reverse());
  const worst = page.locator("#hosts thead th", { hasText: /^Worst Finding$/ });
  await worst.click();
  await worst.click();
  assert.equal(await page.$eval("#hosts tbody tr.host-row", (r) => r.dataset.worst), "high");
});

test(`1,000 hosts: the page opens and filters in under ${BUDGET_MS} ms`, async () => {
  const big = await context.newPage();
  watch(big);
  await big.goto(syntheticUrl, { waitUntil: "load" });
  await big.waitForSelector("body[data-ready=true]");
  const open = await big.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    const summary = document.getElementById("charts").getBoundingClientRect();
    return {
      domContentLoaded: nav.domContentLoadedEventEnd,
      load: nav.loadEventEnd,
      firstContentfulPaint: paint ? paint.startTime : null,
      ready: performance.getEntriesByName("report-ready")[0].startTime,
      summaryOnScreen: summary.top >= 0 && summary.bottom <= window.innerHeight,
    };
  });
  assert.ok(open.summaryOnScreen, "the summary is in the first screen");
  assert.ok(open.firstContentfulPaint !== null, "Chromium reported a first contentful paint");

  // One filter change, timed from the input event to the frame after it (layout and paint included).
  async function timed(action) {
    return big.evaluate(async (step) => {
      const start = performance.now();
      if (step.check !== undefined) {
        const box = document.querySelector(`input.sev-filter[value="${step.check}"]`);
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change"));
      } else if (step.text !== undefined) {
        const input = document.getElementById("host-filter");
        input.value = step.text;
        input.dispatchEvent(new Event("input"));
      } else if (step.code !== undefined) {
        const select = document.getElementById("code-filter");
        select.value = step.code;
        select.dispatchEvent(new Event("change"));
      } else if (step.open !== undefined) {
        document.querySelector(`#hosts tr.host-row[data-host="${step.open}"]`).click();
      }
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
      return performance.now() - start;
    }, action);
  }
  const filters = {
    severityHighOff: await timed({ check: "high" }),
    severityHighOn: await timed({ check: "high" }),
    hostText: await timed({ text: "ams3" }),
    hostTextCleared: await timed({ text: "" }),
    code: await timed({ code: "DEBIAN_IPTABLES_1_8_11_1" }),
    codeCleared: await timed({ code: "" }),
  };
  const firstHost = (await hostRows(big))[0];
  const details = await timed({ open: firstHost });

  const figures = { hosts: synthetic.hosts.length, ...open, ...filters, firstHostDetails: details };
  console.log(`# 1,000-host report in Chromium (ms): ${JSON.stringify(figures, (k, v) => (typeof v === "number" ? Math.round(v) : v))}`);
  for (const key of ["domContentLoaded", "load", "firstContentfulPaint", "ready"]) {
    assert.ok(open[key] < BUDGET_MS, `${key} took ${open[key]} ms`);
  }
  for (const [key, ms] of Object.entries(filters)) {
    assert.ok(ms < BUDGET_MS, `filter ${key} took ${ms} ms`);
  }
  assert.ok(details < BUDGET_MS, `opening a host's details took ${details} ms`);

  // The figures are for a page that did the work: the filters applied, a page of rows and not the whole fleet.
  assert.equal((await hostRows(big)).length, 100);
  assert.match(await big.textContent("#shown-count"), new RegExp(`^${synthetic.hosts.length} of ${synthetic.hosts.length} hosts`));
  await big.fill("#host-filter", "ams3");
  const ams3 = synthetic.hosts.filter((h) => h.host.includes("ams3")).length;
  assert.match(await big.textContent("#shown-count"), new RegExp(`^${ams3} of ${synthetic.hosts.length} hosts`));
  await big.fill("#host-filter", "");
  await big.screenshot({ path: path.join(syntheticDir, "report-1000.png") });
  await big.click("#show-more");
  assert.equal((await hostRows(big)).length, 200);
  await big.close();
});

test("hostile host names and messages stay text in the browser", async () => {
  const hostile = synthetic.hosts.filter((h) => h.findings.some((f) => f.code === "HOSTILE_TEXT"));
  assert.equal(hostile.length, 2);
  const target = await context.newPage();
  watch(target);
  await target.goto(syntheticUrl);
  await target.waitForSelector("body[data-ready=true]");
  await target.selectOption("#code-filter", "HOSTILE_TEXT");
  assert.deepEqual((await hostRows(target)).sort(), hostile.map((h) => h.host).sort());
  await target.locator('#codes tr[data-code="HOSTILE_TEXT"] summary').click();
  for (const host of hostile) {
    await target.locator("#hosts tr.host-row").filter({ has: target.locator("td", { hasText: host.host.slice(0, 8) }) }).first().click();
  }
  assert.equal(await target.locator("#hosts tr.detail-row").count(), 2);
  const shown = await target.locator('#codes tr[data-code="HOSTILE_TEXT"] .host-list').textContent();
  assert.ok(shown.includes("<script>window.__pwned=1</script> | x"), shown);
  assert.equal(await target.evaluate(() => window.__pwned), undefined);
  assert.equal(await target.locator("img, #hosts script, #codes script").count(), 0);
  assert.deepEqual(await target.$$eval("a", (links) => links.filter((a) => !a.href.startsWith("https://")).map((a) => a.href)), []);
  await target.close();
});

test("the pages load nothing from the network and raise no script error", async () => {
  assert.deepEqual(networkRequests, []);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(consoleErrors, []);
});
