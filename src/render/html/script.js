// The report page's only script (static text, no log content): filter box
// and chips, sortable columns, caller drill-down, Copy buttons, and the
// unpacking of a large page's fix commands and caller details.
(function () {
  var q = document.getElementById('q');
  q.hidden = false;
  var groups = { severity: {}, kind: {}, vault: {} };
  var bar = document.getElementById('chips');
  function values(el, g) {
    var v = el.getAttribute('data-' + g);
    return v === null ? null : (g === 'vault' ? v.split(' ') : [v]);
  }
  // Each row's text, lower-cased once (the filter runs on every key).
  var index = null;
  function rows() {
    if (!index) {
      index = Array.prototype.map.call(document.querySelectorAll('tbody tr, section.finding'), function (r) {
        var v = {};
        Object.keys(groups).forEach(function (g) { v[g] = values(r, g); });
        var x = { r: r, text: (r.textContent + ' ' + (r.getAttribute('data-ids') || '')).toLowerCase(), v: v, ok: true };
        r.kvRow = x;
        return x;
      });
    }
    return index;
  }
  // A table shows at most PAGE matching rows at a time (more on request):
  // the browser then lays out hundreds of rows, not thousands.
  var PAGE = 500;
  var limits = {};
  function more(t, n, lim) {
    var p = t.nextElementSibling;
    if (!p || !p.classList.contains('more')) {
      if (n <= lim) { return; }
      p = document.createElement('p');
      p.className = 'more';
      t.parentNode.insertBefore(p, t.nextSibling);
    }
    p.textContent = '';
    if (n <= lim) { p.hidden = true; return; }
    p.hidden = false;
    p.appendChild(document.createTextNode('Showing ' + lim + ' of ' + n + ' rows. '));
    [['Show ' + PAGE + ' more', lim + PAGE], ['Show all', Infinity]].forEach(function (a) {
      var b = document.createElement('button');
      b.type = 'button'; b.className = 'chip'; b.textContent = a[0];
      b.addEventListener('click', function () { limits[t.id] = a[1]; apply(); });
      p.appendChild(b);
    });
  }
  function apply() {
    var t = q.value.toLowerCase();
    var on = {};
    Object.keys(groups).forEach(function (g) {
      on[g] = Object.keys(groups[g]).filter(function (k) { return groups[g][k]; });
    });
    rows().forEach(function (x) {
      var ok = !t || x.text.indexOf(t) >= 0;
      Object.keys(groups).forEach(function (g) {
        var v = x.v[g];
        if (ok && on[g].length && v !== null && !v.some(function (y) { return on[g].indexOf(y) >= 0; })) { ok = false; }
      });
      x.ok = ok;
      if (!x.r.closest('table.sortable') && x.r.hidden === ok) { x.r.hidden = !ok; }
    });
    document.querySelectorAll('table.sortable').forEach(function (tab) {
      var lim = limits[tab.id] || PAGE;
      var n = 0;
      Array.prototype.forEach.call(tab.tBodies[0].rows, function (r) {
        var x = r.kvRow;
        var show = !!x && x.ok && n < lim;
        if (x && x.ok) { n++; }
        if (r.hidden === show) { r.hidden = !show; }
      });
      more(tab, n, lim);
    });
  }
  q.addEventListener('input', apply);
  function chips() {
    bar.textContent = '';
    Object.keys(groups).forEach(function (g) {
      var seen = {};
      document.querySelectorAll('[data-' + g + ']').forEach(function (el) {
        (values(el, g) || []).forEach(function (v) { if (v) { seen[v] = 1; } });
      });
      var keys = Object.keys(seen).sort();
      if (keys.length < 2) { return; }
      var label = document.createElement('span');
      label.textContent = g + ':';
      bar.appendChild(label);
      keys.forEach(function (k) {
        var b = document.createElement('button');
        b.type = 'button'; b.className = 'chip'; b.textContent = k;
        b.setAttribute('aria-pressed', groups[g][k] ? 'true' : 'false');
        b.addEventListener('click', function () {
          groups[g][k] = !groups[g][k];
          b.setAttribute('aria-pressed', groups[g][k] ? 'true' : 'false');
          apply();
        });
        bar.appendChild(b);
      });
    });
    bar.hidden = false;
  }
  chips();
  document.querySelectorAll('table.sortable thead th').forEach(function (th) {
    var i = th.cellIndex;
    th.tabIndex = 0;
    function go() {
      var tb = th.closest('table').tBodies[0];
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      th.parentNode.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var num = th.classList.contains('num');
      var keyed = Array.prototype.map.call(tb.rows, function (r) {
        var x = r.cells[i] ? r.cells[i].textContent : '';
        return [num ? parseFloat(x) : x, r];
      });
      keyed.sort(function (a, b) {
        var c = num ? a[0] - b[0] : (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
        return asc ? c : -c;
      });
      var f = document.createDocumentFragment();
      keyed.forEach(function (k) { f.appendChild(k[1]); });
      tb.appendChild(f);
      apply();
    }
    th.addEventListener('click', go);
    th.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(); }
    });
  });
  function copyButton(c) {
    var b = document.createElement('button');
    // The label is drawn by CSS: the filter box does not match it.
    b.type = 'button'; b.className = 'copy';
    b.setAttribute('aria-label', 'Copy the command');
    b.addEventListener('click', function () {
      if (navigator.clipboard) {
        navigator.clipboard.writeText(c.textContent).then(function () { b.classList.add('copied'); });
      }
    });
    c.parentNode.parentNode.insertBefore(b, c.parentNode);
  }
  document.querySelectorAll('pre>code').forEach(copyButton);
  // A large page: the other denial rows and the caller details come
  // from the pack.
  var pack = null;
  var packed = document.getElementById('kv-packed');
  function fill(d) {
    var at = d.getAttribute('data-d');
    if (pack && at !== null && !d.querySelector('dl')) {
      d.insertAdjacentHTML('beforeend', pack.details[+at]);
    }
  }
  if (packed && window.DecompressionStream) {
    var bin = atob(packed.textContent);
    var bytes = new Uint8Array(bin.length);
    for (var k = 0; k < bin.length; k++) { bytes[k] = bin.charCodeAt(k); }
    new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate-raw')))
      .text().then(function (text) {
        pack = JSON.parse(text);
        var tb = document.querySelector('#denial-table tbody');
        var before = tb.rows.length;
        tb.insertAdjacentHTML('beforeend', pack.rows);
        Array.prototype.slice.call(tb.rows, before).forEach(function (r) {
          r.querySelectorAll('pre>code').forEach(copyButton);
        });
        index = null;
        chips();
        apply();
        document.querySelectorAll('details.caller[open]').forEach(fill);
        document.body.setAttribute('data-unpacked', '');
      });
  }
  document.querySelectorAll('details.caller').forEach(function (d) {
    d.addEventListener('toggle', function () { if (d.open) { fill(d); } });
  });
  document.querySelectorAll('tr[data-principal]').forEach(function (r) {
    r.style.cursor = 'pointer';
    r.tabIndex = 0;
    function open() {
      var d = document.querySelector('details.caller[data-principal="' + CSS.escape(r.getAttribute('data-principal')) + '"]');
      if (d) { d.open = true; fill(d); d.scrollIntoView(); d.querySelector('summary').focus(); }
    }
    r.addEventListener('click', open);
    r.addEventListener('keydown', function (e) { if (e.key === 'Enter') { open(); } });
  });
  var saved = null;
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('details').forEach(function (d) { d.open = true; fill(d); });
    saved = limits;
    limits = {};
    document.querySelectorAll('table.sortable').forEach(function (t) { limits[t.id] = Infinity; });
    apply();
  });
  window.addEventListener('afterprint', function () {
    if (saved) { limits = saved; saved = null; apply(); }
  });
  apply();
})();
