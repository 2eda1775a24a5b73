// The demo phone's screen refreshes itself (replies arrive through the outbox).
(function () {
  var screen = document.getElementById("screen");
  function refresh() {
    fetch("/demo/ponsel/pesan", {credentials: "same-origin"}).then(function (r) {
      return r.status === 200 ? r.text() : null;
    }).then(function (html) {
      if (html !== null && html !== screen.innerHTML) {
        screen.innerHTML = html;
        window.scrollTo(0, document.body.scrollHeight);
      }
    }).catch(function () {});
  }
  setInterval(refresh, 2000);
  window.scrollTo(0, document.body.scrollHeight);
})();
