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
// Selection for bulk actions: kept by order id, so a row refreshed live stays selected; the
// page's box is checked, clear or mixed; the count is announced politely.
(() => {
  const selected = new Set();
  const boxes = () => Array.from(document.querySelectorAll("#rows input[name=ids]"));
  const show = () => {
    const all = boxes();
    for (const box of all) box.checked = selected.has(box.value);
    const page = document.getElementById("select-page");
    if (page) {
      const on = all.filter((b) => b.checked).length;
      page.checked = on > 0 && on === all.length;
      page.indeterminate = on > 0 && on < all.length;
    }
    const status = document.getElementById("selection");
    if (status) status.textContent = selected.size ? `${selected.size} selected` : "None selected";
  };
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (box.id === "select-page") {
      for (const b of boxes()) box.checked ? selected.add(b.value) : selected.delete(b.value);
    } else if (box.matches && box.matches("#rows input[name=ids]")) {
      box.checked ? selected.add(box.value) : selected.delete(box.value);
    } else return;
    show();
  });
  document.addEventListener("htmx:afterSettle", show);
})();
// The packing slips' Print button.
document.addEventListener("click", (event) => {
  if (event.target.id === "print") window.print();
});
