// The report page's behaviour: filters, the hosts table and host details.
// Hosts come from the #report-view block (a few cells per host) and are rendered one page at a time; the full
// report (#report-data) is parsed only when a host's details or a code's host list are first opened. Every text
// from the report goes in through textContent, never as markup.
(function () {
  "use strict";
  var PAGE = 100;
  var view = JSON.parse(document.getElementById("report-view").textContent);
  var hosts = view.hosts;
  var report = null;
  var recordByName = null;
  var state = { severities: {}, code: "", text: "", failingOnly: false, sortKey: null, sortDir: 1, limit: PAGE, open: {} };
  var matches = [];

  function fullReport() {
    if (report === null) {
      report = JSON.parse(document.getElementById("report-data").textContent);
      recordByName = {};
      report.hosts.forEach(function (record) { recordByName[record.host] = record; });
    }
    return report;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function badge(severity) {
    var name = severity || "none";
    return el("span", "sev sev-" + name, name);
  }

  function referenceNode(ref) {
    if (/^https?:\/\/[^\s"'<>\\`]+$/.test(ref)) {
      var link = el("a", null, ref);
      link.href = ref;
      link.rel = "noreferrer";
      return link;
    }
    return el("span", null, ref);
  }

  function hostMatches(host) {
    if (state.failingOnly && !host.fails) { return false; }
    if (state.code && host.codes.indexOf(state.code) === -1) { return false; }
    if (state.text && host.name.toLowerCase().indexOf(state.text) === -1) { return false; }
    if (host.severities.length === 0) { return !!state.severities.none; }
    for (var i = 0; i < host.severities.length; i++) {
      if (state.severities[host.severities[i]]) { return true; }
    }
    return false;
  }

  function sortValue(host, key) {
    if (key === "findings") { return host.findings; }
    if (key === view.columns.length - 1) { return host.worst; }
    return host.cells[key].toLowerCase();
  }

  function sortMatches() {
    if (state.sortKey === null) { return; }
    var key = state.sortKey;
    var dir = state.sortDir;
    matches.sort(function (a, b) {
      var x = sortValue(hosts[a], key);
      var y = sortValue(hosts[b], key);
      return x < y ? -dir : (x > y ? dir : a - b);
    });
  }

  function applyFilters() {
    var boxes = document.querySelectorAll("input.sev-filter");
    state.severities = {};
    for (var i = 0; i < boxes.length; i++) { if (boxes[i].checked) { state.severities[boxes[i].value] = true; } }
    state.code = document.getElementById("code-filter").value;
    state.text = document.getElementById("host-filter").value.trim().toLowerCase();
    state.failingOnly = document.getElementById("failing-only").checked;
    state.limit = PAGE;

    matches = [];
    var perCode = {};
    for (var h = 0; h < hosts.length; h++) {
      if (!hostMatches(hosts[h])) { continue; }
      matches.push(h);
      for (var c = 0; c < hosts[h].codes.length; c++) {
        perCode[hosts[h].codes[c]] = (perCode[hosts[h].codes[c]] || 0) + 1;
      }
    }
    var codeRows = document.querySelectorAll("#codes tbody tr");
    var shownCodes = 0;
    for (var r = 0; r < codeRows.length; r++) {
      var row = codeRows[r];
      var code = row.getAttribute("data-code");
      var count = perCode[code] || 0;
      var sevOk = row.getAttribute("data-severities").split(" ").some(function (s) { return state.severities[s]; });
      var show = sevOk && count > 0 && (!state.code || state.code === code);
      row.hidden = !show;
      if (show) { shownCodes++; }
      var total = row.getAttribute("data-total");
      row.querySelector(".count").textContent = String(count) === total ? total : count + " of " + total;
      var details = row.querySelector("details");
      if (details.open) { fillCodeHosts(row); }
    }
    sortMatches();
    renderHosts();
    document.getElementById("shown-count").textContent = matches.length + " of " + hosts.length + " hosts, " +
      shownCodes + " of " + codeRows.length + " finding codes shown";
  }

  function renderHosts() {
    var body = document.querySelector("#hosts tbody");
    var fragment = document.createDocumentFragment();
    var shown = Math.min(matches.length, state.limit);
    for (var i = 0; i < shown; i++) {
      var host = hosts[matches[i]];
      fragment.appendChild(hostRow(host));
      if (state.open[host.name]) { fragment.appendChild(detailRow(host)); }
    }
    body.textContent = "";
    body.appendChild(fragment);
    var more = document.getElementById("show-more");
    var rest = matches.length - shown;
    more.hidden = rest <= 0;
    more.textContent = "Show " + Math.min(rest, PAGE) + " more (" + rest + " not shown)";
  }

  function hostRow(host) {
    var row = el("tr", host.fails ? "host-row bad" : "host-row");
    row.setAttribute("data-host", host.name);
    row.setAttribute("data-status", host.status);
    row.setAttribute("data-worst", host.severities[0] || "none");
    row.setAttribute("aria-expanded", state.open[host.name] ? "true" : "false");
    for (var c = 0; c < host.cells.length; c++) {
      var cell = el("td");
      if (c === 0) {
        cell.appendChild(el("button", "host-name", host.cells[0])).type = "button";
      } else if (c === host.cells.length - 1) {
        cell.appendChild(badge(host.severities[0]));
        cell.appendChild(document.createTextNode(" " + host.cells[c]));
      } else {
        cell.textContent = host.cells[c];
      }
      row.appendChild(cell);
    }
    row.appendChild(el("td", null, host.findings));
    return row;
  }

  function detailRow(host) {
    var record = (fullReport(), recordByName[host.name]);
    var row = el("tr", "detail-row");
    row.setAttribute("data-detail-for", host.name);
    var cell = el("td", "detail");
    cell.colSpan = view.columns.length + 1;
    cell.appendChild(el("p", null, host.headline));
    var br = record.br_netfilter;
    if (br && br.sysctls.length) {
      var table = el("table", "sysctls");
      var head = el("tr");
      ["sysctl", "live", "after reboot", "persisted by"].forEach(function (name) { head.appendChild(el("th", null, name)); });
      table.appendChild(el("thead")).appendChild(head);
      var body = table.appendChild(el("tbody"));
      br.sysctls.forEach(function (s) {
        var tr = body.appendChild(el("tr"));
        tr.appendChild(el("td")).appendChild(el("code", null, s.key));
        tr.appendChild(el("td", null, s.live === null ? "absent" : s.live));
        tr.appendChild(el("td", null, s.after_reboot === null ? "absent" : s.after_reboot));
        tr.appendChild(el("td", null, s.persisted === null ? "-" :
          s.persisted_file + " line " + s.persisted_line + " (= " + s.persisted + ")"));
      });
      cell.appendChild(table);
    }
    if (record.docker !== null || record.iptables !== null) {
      cell.appendChild(el("p", null, "Docker: " + host.cells[5] + " \u00b7 iptables: " + host.cells[6]));
    }
    if (record.findings.length === 0) {
      cell.appendChild(el("p", null, "No findings."));
    }
    var list = el("ul", "findings");
    record.findings.forEach(function (f) {
      var item = list.appendChild(el("li"));
      item.setAttribute("data-code", f.code);
      item.setAttribute("data-severity", f.severity);
      item.appendChild(badge(f.severity));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(el("code", null, f.code));
      item.appendChild(document.createTextNode(": " + f.message));
      if (f.remediation) { item.appendChild(el("div", "remediation muted", "Remediation: " + f.remediation)); }
      if (f.reference.length) {
        var refs = item.appendChild(el("div", "references muted", "Reference: "));
        f.reference.forEach(function (ref, i) {
          if (i) { refs.appendChild(document.createTextNode(" ")); }
          refs.appendChild(referenceNode(ref));
        });
      }
    });
    cell.appendChild(list);
    row.appendChild(cell);
    return row;
  }

  // The hosts of one code, as the filters leave them, each with its own message for that code.
  function fillCodeHosts(row) {
    var code = row.getAttribute("data-code");
    var list = row.querySelector(".host-list");
    var fragment = document.createDocumentFragment();
    fullReport();
    matches.forEach(function (index) {
      var host = hosts[index];
      if (host.codes.indexOf(code) === -1) { return; }
      recordByName[host.name].findings.forEach(function (f) {
        if (f.code !== code) { return; }
        var item = el("li");
        item.setAttribute("data-host", host.name);
        var name = item.appendChild(el("button", "host-name", host.name));
        name.type = "button";
        name.setAttribute("data-show-host", host.name);
        item.appendChild(document.createTextNode(": " + f.message));
        fragment.appendChild(item);
      });
    });
    list.textContent = "";
    list.appendChild(fragment);
  }

  function toggleHost(name) {
    state.open[name] = !state.open[name];
    renderHosts();
  }

  // Narrows the hosts table to one host and opens its details (from a code's host list or #host=NAME).
  function showHost(name) {
    document.getElementById("host-filter").value = name;
    applyFilters();
    state.open[name] = true;
    renderHosts();
    var row = document.querySelector('#hosts tr[data-detail-for]');
    if (row) { row.scrollIntoView({ block: "nearest" }); }
  }

  function sortBy(th) {
    var raw = th.getAttribute("data-sort");
    var key = raw === "findings" ? raw : parseInt(raw, 10);
    state.sortDir = state.sortKey === key ? -state.sortDir : 1;
    state.sortKey = key;
    var heads = document.querySelectorAll("#hosts th.sortable");
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", state.sortDir === 1 ? "ascending" : "descending");
    sortMatches();
    renderHosts();
  }

  function applyHash() {
    var hash = window.location.hash.replace(/^#/, "");
    hash.split("&").forEach(function (part) {
      var pair = part.split("=");
      var value = decodeURIComponent(pair.slice(1).join("="));
      if (pair[0] === "severity") {
        var wanted = value.split(",");
        var boxes = document.querySelectorAll("input.sev-filter");
        for (var k = 0; k < boxes.length; k++) { boxes[k].checked = wanted.indexOf(boxes[k].value) !== -1; }
      } else if (pair[0] === "code") {
        document.getElementById("code-filter").value = value;
      }
    });
    var host = /(?:^|&)host=([^&]*)/.exec(hash);
    return host ? decodeURIComponent(host[1]) : null;
  }

  function init() {
    var controls = document.querySelectorAll("#controls input, #controls select");
    for (var i = 0; i < controls.length; i++) {
      controls[i].addEventListener(controls[i].type === "search" ? "input" : "change", applyFilters);
    }
    document.querySelector("#hosts thead").addEventListener("click", function (ev) {
      var th = ev.target.closest("th.sortable");
      if (th) { sortBy(th); }
    });
    document.querySelector("#hosts tbody").addEventListener("click", function (ev) {
      var row = ev.target.closest("tr.host-row");
      if (row) { toggleHost(row.getAttribute("data-host")); }
    });
    document.getElementById("show-more").addEventListener("click", function () {
      state.limit += PAGE;
      renderHosts();
    });
    var codes = document.getElementById("codes");
    if (codes) {
      codes.addEventListener("toggle", function (ev) {
        if (ev.target.open) { fillCodeHosts(ev.target.closest("tr")); }
      }, true);
      codes.addEventListener("click", function (ev) {
        var button = ev.target.closest("button[data-show-host]");
        if (button) { showHost(button.getAttribute("data-show-host")); }
      });
    }
    var host = applyHash();
    applyFilters();
    if (host) { showHost(host); }
    document.body.setAttribute("data-ready", "true");
    performance.mark("report-ready");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
