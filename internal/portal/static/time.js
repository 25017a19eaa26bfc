// Shows every <time datetime> in the browser's own time zone; without this
// script the UTC text written by the server stays.
(function () {
  "use strict";
  var fmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
  function localize(root) {
    var els = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < els.length; i++) {
      var d = new Date(els[i].getAttribute("datetime"));
      if (!isNaN(d.getTime()) && d.getUTCFullYear() > 1) {
        els[i].title = els[i].textContent;
        els[i].textContent = fmt.format(d);
      }
    }
  }
  window.weirLocalize = localize;
  localize(document);
})();
