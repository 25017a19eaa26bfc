// A sign-in link carries its secret in the fragment (#link=...), which the
// browser never sends to a server or a proxy. This script moves it into the
// form, clears it from the address bar and history, and submits.
(function () {
  "use strict";
  var m = /^#link=([A-Za-z0-9_\-]+)$/.exec(window.location.hash);
  if (!m) { return; }
  history.replaceState(null, "", window.location.pathname + window.location.search);
  var form = document.getElementById("signin");
  var field = document.getElementById("token");
  if (!form || !field || document.getElementById("token-error")) { return; }
  field.value = m[1];
  form.submit();
})();
