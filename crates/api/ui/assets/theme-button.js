// The theme button shared by the pages: auto (the system's scheme), light, dark, in turn; the choice
// is remembered in localStorage, which theme.js reads before the page is painted.

const THEMES = ['auto', 'light', 'dark'];

function currentTheme() {
  return document.documentElement.getAttribute('data-theme') ?? 'auto';
}

function nextTheme() {
  const next = THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length];
  if (next === 'auto') {
    document.documentElement.removeAttribute('data-theme');
  } else {
    document.documentElement.setAttribute('data-theme', next);
  }
  try {
    if (next === 'auto') {
      localStorage.removeItem('aiut-theme');
    } else {
      localStorage.setItem('aiut-theme', next);
    }
  } catch {
    // Not saved; the choice holds for this page.
  }
}

/** Makes `button` show the theme and switch to the next one when clicked. */
export function wireThemeButton(button) {
  const show = () => {
    button.textContent = `Theme: ${currentTheme()}`;
  };
  button.addEventListener('click', () => {
    nextTheme();
    show();
  });
  show();
}
