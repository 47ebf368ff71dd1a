// Kith console: small progressive enhancements; every page works without them.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Meters: widths from data attributes (the security policy allows no inline styles).
  for (const fill of document.querySelectorAll(".meter .fill[data-width]")) {
    fill.style.width = `${Math.max(0, Math.min(100, Number(fill.dataset.width)))}%`;
  }
  // Ask before a destructive form is sent.
  for (const form of document.querySelectorAll("form.confirm")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm || "Are you sure?")) event.preventDefault();
    });
  }
  // A new key's secret: selected at once, so that it can be copied.
  const secret = document.querySelector(".secret-value");
  if (secret) { secret.focus(); secret.select(); }
});
