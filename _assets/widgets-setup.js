// Runs between require.js and @jupyter-widgets/html-manager's embed-amd.js (see _config.yml).
(function () {
  // 1. The widget manager loads its icon fonts from the folder of its AMD module, which require.js
  //    resolves against the page ("chapters/@jupyter-widgets/..."): point it at the vendored copy.
  var here = document.currentScript.src;
  var base = here.slice(0, here.lastIndexOf("/") + 1) + "vendor/html-manager";
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": base } });

  // 2. The widget manager typesets labels with the MathJax 2 call MathJax.Hub.Queue; the book
  //    serves MathJax 3. Translate the one call it makes.
  function shim() {
    if (!window.MathJax || window.MathJax.Hub) return;
    window.MathJax.Hub = {
      Queue: function () {
        for (var i = 0; i < arguments.length; i++) {
          var cmd = arguments[i];
          if (Array.isArray(cmd) && cmd[0] === "Typeset" && window.MathJax.typesetPromise) {
            window.MathJax.typesetPromise([cmd[2]]).catch(function () {});
          }
        }
      },
    };
  }
  shim();
  document.addEventListener("DOMContentLoaded", shim);
})();
