// Fill the reply box from the chosen canned answer (placeholders were filled by the server).
document.addEventListener("change", function (ev) {
  var sel = ev.target;
  if (!sel.matches || !sel.matches("select[data-fill]")) return;
  var opt = sel.options[sel.selectedIndex];
  var box = document.getElementById(sel.getAttribute("data-fill"));
  if (box && opt && opt.dataset.text) { box.value = opt.dataset.text; box.focus(); }
});
