// artifactstore package browser: copy buttons and "collapse all" for the file tree.
// Loaded from this app only (Content-Security-Policy: script-src 'self'); no inline script.
"use strict";
document.addEventListener("click", (event) => {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return;
  if (target.matches("button.copy")) {
    const text = target.dataset.copy || "";
    const done = () => { const label = target.textContent; target.textContent = "copied"; setTimeout(() => { target.textContent = label; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => {});
    } else {
      const area = document.createElement("textarea");
      area.value = text; document.body.appendChild(area); area.select();
      try { document.execCommand("copy"); done(); } finally { area.remove(); }
    }
  } else if (target.matches("button.toggle-all")) {
    const open = target.dataset.open === "1";
    document.querySelectorAll("details.folder").forEach((d) => { d.open = open; });
    target.dataset.open = open ? "0" : "1";
    target.textContent = open ? "Collapse all" : "Expand all";
  }
});
