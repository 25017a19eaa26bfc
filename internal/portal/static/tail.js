// The live tail: follows /ui/tail/stream with an EventSource and adds each
// event as a row, newest first. Rows are built with textContent only: event
// data never reaches the page as HTML.
//
// Pause holds the events that arrive (the connection stays open) and adds
// them on Resume; while paused at most data-max events are held, the oldest
// dropped first, so memory stays bounded however long the pause.
(function () {
  "use strict";
  var list = document.getElementById("tail-list");
  var url = list && list.getAttribute("data-stream");
  if (!url) {
    return;
  }
  var max = parseInt(list.getAttribute("data-max"), 10) || 200;
  var pause = document.getElementById("tail-pause");
  var status = document.getElementById("tail-status");
  var empty = document.getElementById("tail-empty");
  var box = document.getElementById("types");
  var errorText = document.getElementById("types-error");
  var paused = false;
  var held = [];
  var lastId = "";
  var rows = 0;
  var es = null;

  function say(text) { status.textContent = text; }

  function showError(text) {
    errorText.textContent = text;
    box.setAttribute("aria-invalid", "true");
  }

  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function pretty(data) {
    try {
      return JSON.stringify(JSON.parse(data), null, 2);
    } catch (e) {
      return data;
    }
  }

  function row(data) {
    var ev = {};
    try {
      ev = JSON.parse(data) || {};
    } catch (e) { /* shown raw below */ }
    rows += 1;
    var li = document.createElement("li");
    var pre = document.createElement("pre");
    pre.id = "tail-ev-" + rows;
    pre.hidden = true;
    pre.textContent = pretty(data);
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "tail-row";
    btn.setAttribute("aria-expanded", "false");
    btn.setAttribute("aria-controls", pre.id);
    btn.appendChild(span("tail-type", String(ev.type || "(no type)")));
    btn.appendChild(span("tail-source", String(ev.source || "")));
    btn.appendChild(span("tail-id", String(ev.id || "")));
    var t = document.createElement("time");
    var when = new Date(ev.time || Date.now());
    if (!isNaN(when.getTime())) {
      t.dateTime = when.toISOString();
      t.textContent = when.toLocaleString();
    }
    btn.appendChild(t);
    btn.addEventListener("click", function () {
      var open = btn.getAttribute("aria-expanded") === "true";
      btn.setAttribute("aria-expanded", open ? "false" : "true");
      pre.hidden = open;
    });
    li.appendChild(btn);
    li.appendChild(pre);
    return li;
  }

  function add(data) {
    if (empty) {
      empty.hidden = true;
    }
    list.insertBefore(row(data), list.firstChild);
    while (list.children.length > max) {
      list.removeChild(list.lastChild);
    }
  }

  function onEvent(e) {
    lastId = e.lastEventId || lastId;
    if (paused) {
      held.push(e.data);
      if (held.length > max) {
        held.shift();
      }
      say("Paused: " + held.length + " new event" + (held.length === 1 ? "" : "s") + " held.");
      return;
    }
    add(e.data);
  }

  // When the stream is refused (its answer is not a stream), EventSource
  // gives up without saying why; the same request through fetch reads the
  // problem the server sent. A stream that does answer is cut at once.
  function explain() {
    var ctl = new AbortController();
    fetch(url, { credentials: "same-origin", signal: ctl.signal, headers: { Accept: "application/problem+json" } })
      .then(function (resp) {
        if (resp.ok) {
          ctl.abort();
          say("Reconnecting…");
          window.setTimeout(connect, 1000);
          return null;
        }
        return resp.json().then(function (p) {
          var text = (p && p.detail) || ("The server answered " + resp.status + ".");
          if (resp.status === 429 || resp.status === 503) {
            var wait = parseInt(resp.headers.get("Retry-After"), 10) || 10;
            say("Retrying in " + wait + " s.");
            window.setTimeout(connect, wait * 1000);
          } else if (resp.status === 401) {
            text += " Reload the page to sign in.";
            say("Stopped.");
          } else {
            say("Stopped.");
          }
          showError(text);
        });
      })
      .catch(function () {
        say("Disconnected: weir did not answer. Retrying in 10 s.");
        window.setTimeout(connect, 10000);
      });
  }

  function connect() {
    // The browser resends Last-Event-ID on its own reconnects; a new
    // EventSource after a refusal carries it as ?since=.
    es = new EventSource(lastId ? url + "&since=" + encodeURIComponent(lastId) : url);
    es.addEventListener("open", function () {
      errorText.textContent = "";
      box.removeAttribute("aria-invalid");
      say(paused ? "Paused." : "Connected: following.");
    });
    es.addEventListener("cloudevent", onEvent);
    es.addEventListener("error", function () {
      if (es.readyState === EventSource.CLOSED) {
        explain();
      } else {
        say("Connection lost; reconnecting…");
      }
    });
  }

  pause.hidden = false;
  pause.addEventListener("click", function () {
    paused = !paused;
    pause.setAttribute("aria-pressed", paused ? "true" : "false");
    pause.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      while (held.length) {
        add(held.shift());
      }
      say("Connected: following.");
    } else {
      say("Paused: new events are held and added on Resume.");
    }
  });
  window.addEventListener("pagehide", function () {
    if (es) {
      es.close();
    }
  });
  connect();
})();
