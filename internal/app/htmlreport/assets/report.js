// Hover: show the hovered mark's <title> in a tooltip, and the time under
// the pointer on a vertical cursor. The marks' titles work without this.
(function () {
  document.documentElement.setAttribute("data-js", "ready");
  var tip = document.getElementById('tip');
  function fmt(ms) {
    var d = new Date(ms);
    return d.toISOString().substring(11, 23);
  }
  document.querySelectorAll('figure.timeline svg').forEach(function (svg) {
    var t0 = +svg.dataset.t0, span = +svg.dataset.span, left = +svg.dataset.left, width = +svg.dataset.width;
    var cursor = svg.querySelector('.cursor');
    svg.addEventListener('mousemove', function (ev) {
      var pt = svg.createSVGPoint();
      pt.x = ev.clientX; pt.y = ev.clientY;
      var p = pt.matrixTransform(svg.getScreenCTM().inverse());
      var text = '';
      var el = ev.target;
      var title = el && el.querySelector && el.querySelector(':scope > title');
      if (title) { text = title.textContent; }
      if (p.x >= left && p.x <= left + width) {
        cursor.setAttribute('x1', p.x); cursor.setAttribute('x2', p.x);
        var ms = (p.x - left) / width * span;
        var at = 'cursor ' + fmt(t0 + ms) + ' UTC (+' + (ms / 1000).toFixed(3) + ' s)';
        text = text ? text + '\n' + at : at;
      }
      if (!text) { tip.hidden = true; return; }
      tip.textContent = text;
      tip.hidden = false;
      var x = ev.clientX + 14, y = ev.clientY + 14;
      if (x + tip.offsetWidth > window.innerWidth) { x = ev.clientX - tip.offsetWidth - 10; }
      if (y + tip.offsetHeight > window.innerHeight) { y = ev.clientY - tip.offsetHeight - 10; }
      tip.style.left = x + 'px'; tip.style.top = y + 'px';
    });
    svg.addEventListener('mouseleave', function () { tip.hidden = true; cursor.setAttribute('x1', -10); cursor.setAttribute('x2', -10); });
  });
})();
