// Switchboard chat widget loader. Embed with
//   <script src="https://HOST/widget/switchboard.js"></script>
//   <script>Switchboard.init({ title: 'Help' })</script>
// A classic script, so `Switchboard.init` exists as soon as the tag has run;
// the widget's ES modules load from the same /widget/ directory. The server
// is the one this script came from, unless `server` is given. Options and
// the returned handle are described in web/widget/README.md.
(function () {
  'use strict';
  if (window.Switchboard && window.Switchboard.init) return;
  var script = document.currentScript;
  var base = new URL('.', script && script.src ? script.src : new URL('/widget/', location.href)).href;
  var loading = null;

  function load() {
    if (!loading) loading = import(base + 'widget.js');
    return loading;
  }

  /**
   * Starts a widget. Returns at once; calls made before the modules have
   * loaded are replayed in order.
   * @param {object} [options] see web/widget/README.md
   * @returns {{open(): void, close(): void, destroy(): void, update(options: object): void}}
   */
  function init(options) {
    var opts = Object.assign({}, options || {});
    opts.server = new URL(opts.server || '..', base).href;
    var real = null;
    var queue = [];
    var destroyed = false;
    function call(name, args) {
      if (destroyed) return;
      if (name === 'destroy') destroyed = true;
      if (real) real[name].apply(null, args);
      else queue.push([name, args]);
    }
    load().then(function (m) {
      // Destroyed before it ever showed: never mount it.
      if (destroyed) return;
      real = m.mount(opts);
      queue.forEach(function (q) { real[q[0]].apply(null, q[1]); });
      queue = [];
    }).catch(function (e) {
      console.error('Switchboard widget could not start:', e);
    });
    return {
      open: function () { call('open', []); },
      close: function () { call('close', []); },
      destroy: function () { call('destroy', []); },
      update: function (o) { call('update', [o]); },
    };
  }

  window.Switchboard = { init: init, version: '1' };
})();
