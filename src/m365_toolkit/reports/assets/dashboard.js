// The dashboard's one script (its SHA-256 is in the page's CSP): filters and sorting only.
// Everything it works on is already rendered in the HTML; it never builds markup from data.
"use strict";
(function () {
  function rowsOf(table) {
    return Array.prototype.slice.call(table.tBodies[0].rows);
  }

  function applyFilters(form) {
    var table = document.getElementById(form.getAttribute("data-table"));
    if (!table) return;
    var selects = form.querySelectorAll("select");
    var query = (form.querySelector("input[name=q]").value || "").toLowerCase();
    var shown = 0, total = 0;
    rowsOf(table).forEach(function (row) {
      if (row.querySelector("td.none")) return;
      total += 1;
      var ok = true;
      selects.forEach(function (select) {
        if (select.value !== "" && row.getAttribute("data-" + select.name) !== select.value) {
          ok = false;
        }
      });
      if (ok && query && row.textContent.toLowerCase().indexOf(query) < 0) ok = false;
      row.hidden = !ok;
      if (ok) shown += 1;
    });
    var count = document.getElementById(form.getAttribute("data-table") + "-count");
    if (count) count.textContent = shown + " of " + total + " rows";
  }

  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    var text = cell ? cell.textContent.trim() : "";
    if (!numeric) return text.toLowerCase();
    var value = parseFloat(text.replace(/[$,%]/g, ""));
    return isNaN(value) ? -Infinity : value;
  }

  function sortBy(table, th, index) {
    var numeric = th.getAttribute("data-type") === "number";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach(function (other) {
      other.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = rowsOf(table);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    if (rowsOf(table).length < 2) return;
    table.querySelectorAll("thead th").forEach(function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      button.setAttribute("aria-label", "Sort by " + th.textContent);
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, th, index); });
    });
  });

  document.querySelectorAll("form.filters").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.addEventListener("input", function () { applyFilters(form); });
    form.addEventListener("change", function () { applyFilters(form); });
    applyFilters(form);
  });
  document.documentElement.setAttribute("data-ready", "true");
})();
