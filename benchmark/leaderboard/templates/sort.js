"use strict";
// Sortable leaderboard tables. Each sortable column heading contains a button.
// Pressing it (mouse, Enter or Space) sorts the rows by that column, first
// ascending, then descending, and moves aria-sort to that heading. Rows
// without a value stay last in both directions, and ties keep the ranking.
(function () {
  function cellValue(row, index, type) {
    const raw = row.cells[index].dataset.sortValue;
    if (raw === undefined || raw === "") {
      return null;
    }
    return type === "number" ? Number(raw) : raw.toLocaleLowerCase();
  }

  function compare(a, b, direction) {
    if (a.value === null || b.value === null) {
      if (a.value === b.value) {
        return a.rank - b.rank;
      }
      return a.value === null ? 1 : -1;
    }
    if (a.value < b.value) {
      return -direction;
    }
    if (a.value > b.value) {
      return direction;
    }
    return a.rank - b.rank;
  }

  function sortBy(table, heading) {
    const headings = Array.from(table.tHead.rows[0].cells);
    const index = headings.indexOf(heading);
    const direction = heading.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows).map(function (row) {
      return {
        row: row,
        rank: Number(row.dataset.rank),
        value: cellValue(row, index, heading.dataset.sortType),
      };
    });
    rows.sort(function (a, b) {
      return compare(a, b, direction);
    });
    for (const item of rows) {
      body.appendChild(item.row);
    }
    for (const other of headings) {
      other.removeAttribute("aria-sort");
    }
    const order = direction === 1 ? "ascending" : "descending";
    heading.setAttribute("aria-sort", order);
    const status = table.parentElement.querySelector(".sort-status");
    if (status) {
      status.textContent = "Sorted by " + heading.dataset.label + ", " + order + ".";
    }
  }

  for (const table of document.querySelectorAll("table.sortable")) {
    for (const heading of table.tHead.rows[0].cells) {
      const button = heading.querySelector("button");
      if (button) {
        button.addEventListener("click", function () {
          sortBy(table, heading);
        });
      }
    }
  }
})();
