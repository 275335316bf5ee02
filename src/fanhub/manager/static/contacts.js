// fanhub manager, contacts table: once every row of the page is selected, offer "Select all N
// contacts matching this filter" (a bulk action over the whole filter, confirmed on the next page).
// Without this script the offer is simply always shown.
(function () {
  "use strict";
  var offer = document.querySelector("[data-select-matching]");
  var pageBox = document.querySelector('[data-select-all="contact_id"]');
  if (!offer || !pageBox) { return; }
  var scope = document.getElementById("scope-matching");
  var note = offer.querySelector("[data-page-selected]");
  var apply = document.getElementById("bulk-apply");
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll('input[name="contact_id"]')); };
  var update = function () {
    var boxes = rows();
    var wholePage = boxes.length > 0 && boxes.every(function (c) { return c.checked; });
    offer.hidden = !wholePage;
    note.hidden = !wholePage;
    if (!wholePage) { scope.checked = false; }
    apply.textContent = scope.checked ? "Apply to all matching…" : "Apply to selected";
  };
  // Runs after manager.js's own listener on the page box has ticked every row.
  document.addEventListener("change", function (e) {
    var target = e.target;
    if (target === pageBox || target === scope || target.name === "contact_id") { update(); }
  });
  update();
})();
