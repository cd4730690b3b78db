// CreatorFlow dashboard behaviour that htmx attributes cannot say. No inline script anywhere:
// the content security policy allows only files from this server.
"use strict";
(() => {
  let before = new Set();
  const ids = (rows) => new Set(Array.from(rows.querySelectorAll("tr[data-order]"), (r) => r.dataset.order));
  document.addEventListener("htmx:beforeSwap", (event) => {
    const rows = document.getElementById("rows");
    if (rows && event.detail.target === rows) before = ids(rows);
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    const rows = document.getElementById("rows");
    if (!rows || event.detail.target !== rows) return;
    // Rows prepended because they changed after the top one: drop their older copies below and
    // mark them for a moment. The rest of the table and the scroll position stay as they were.
    const seen = new Set();
    for (const row of Array.from(rows.querySelectorAll("tr[data-order]"))) {
      const id = row.dataset.order;
      if (seen.has(id)) {
        row.remove();
        continue;
      }
      seen.add(id);
      if (!before.has(id)) row.classList.add("fresh");
    }
  });
})();
// The live list asks for rows newer than its top one; each answer names the new top.
document.addEventListener("rowsTop", (event) => {
  const newer = document.getElementById("newer");
  if (newer && event.detail && event.detail.value) newer.value = event.detail.value;
});
