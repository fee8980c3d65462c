// The API key of the dashboard and call pages: asked for only when the server answers 401,
// kept for this tab in sessionStorage (the console uses the same entry), and sent as a header
// (`Authorization: Bearer …`), never in a URL.

const STORAGE = "vox.apiKey";

export function storedKey() {
  try {
    return sessionStorage.getItem(STORAGE) || "";
  } catch {
    return "";
  }
}

function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(STORAGE, key);
    else sessionStorage.removeItem(STORAGE);
  } catch {
    /* private mode: the key lives as long as the page */
  }
}

let current = storedKey();

/** fetch() with the key (when there is one) in the Authorization header. */
export function keyedFetch(url, options = {}) {
  const headers = new Headers(options.headers || {});
  if (current) headers.set("Authorization", `Bearer ${current}`);
  return fetch(url, { ...options, headers, cache: "no-store" });
}

/**
 * Show the key form (`#key-form`, with `#api-key` and `#key-message`) and resolve with the
 * key once it is submitted.
 */
export function askForKey(message) {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const note = document.getElementById("key-message");
  form.hidden = false;
  note.textContent = message || "This server wants an API key.";
  input.value = "";
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        current = input.value.trim();
        storeKey(current);
        form.hidden = true;
        resolve(current);
      },
      { once: true },
    );
  });
}

/** The key was refused: forget it before asking again. */
export function forgetKey() {
  current = "";
  storeKey("");
}
