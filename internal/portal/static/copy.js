// copy.js: a Copy button next to a block of text (data-copy names the
// block's id). The buttons stay hidden without JavaScript, where the text
// is selectable as it is.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (btn) {
    var target = document.getElementById(btn.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) return;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent).then(function () {
        btn.textContent = "Copied";
      }, function () {
        btn.textContent = "Copy failed: select the text";
      });
      setTimeout(function () { btn.textContent = "Copy"; }, 2000);
    });
  });
})();
