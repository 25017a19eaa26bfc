// The subscription form's live filter preview: while the filter or the types
// change, ask weir how many of the latest events of those types the filter
// selects, and say it under the filter box. Answers are written with
// textContent only.
(function () {
  "use strict";
  var filter = document.getElementById("filter");
  var out = document.getElementById("filter-preview");
  if (!filter || !out) { return; }
  var types = document.getElementById(filter.getAttribute("data-types-field") || "types");
  var csrf = document.querySelector("input[name=csrf]");
  var timer = null, seq = 0;

  function show(text, isError, reasons) {
    out.textContent = text;
    out.className = isError ? "preview field-error" : "preview";
    if (reasons && reasons.length) {
      var ul = document.createElement("ul");
      for (var i = 0; i < reasons.length; i++) {
        var li = document.createElement("li");
        li.textContent = reasons[i];
        ul.appendChild(li);
      }
      out.appendChild(ul);
    }
  }

  function run() {
    var mine = ++seq;
    if (!types || types.value.trim() === "") { show("", false); return; }
    var body = new URLSearchParams();
    body.set("types", types.value);
    body.set("filter", filter.value);
    body.set("csrf", csrf ? csrf.value : "");
    show("checking…", false);
    fetch("/ui/filters/preview", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (a) {
        if (mine !== seq) { return; }
        if (a.error) { show((a.field ? a.field + ": " : "") + a.error, true); return; }
        show(a.text, false, a.reasons);
      })
      .catch(function () { if (mine === seq) { show("the preview is not available right now", true); } });
  }

  function later() { clearTimeout(timer); timer = setTimeout(run, 400); }
  filter.addEventListener("input", later);
  if (types) { types.addEventListener("input", later); }
  if (filter.value || (types && types.value)) { run(); }
})();
