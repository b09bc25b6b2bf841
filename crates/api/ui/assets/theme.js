// Applies the saved colour theme before the page is painted, so a dark page does not flash light.
// A classic script (not a module) so that it runs at once, in the head.
(function () {
  'use strict';
  var saved = null;
  try {
    saved = window.localStorage.getItem('aiut-theme');
  } catch (error) {
    // Storage can be off (private windows, policies); the automatic theme is used.
  }
  if (saved === 'light' || saved === 'dark') {
    document.documentElement.setAttribute('data-theme', saved);
  }
})();
