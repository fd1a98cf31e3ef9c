// Passkeys on secinfo's pages: the only script they load. Everything else works without
// it. Where WebAuthn is missing, the passkey buttons stay hidden and a sentence says why.
//
// Each ceremony: POST <base>/options -> navigator.credentials.create/get -> POST <base>
// with the answer; the server replies {redirect} or {error: {code, message}}.
(function () {
  "use strict";

  const b64urlToBuffer = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
  };
  const bufferToB64url = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer)))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

  // WebAuthn Level 3 JSON forms, with a fallback for browsers without them.
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: b64urlToBuffer(json.challenge),
      user: Object.assign({}, json.user, {id: b64urlToBuffer(json.user.id)}),
      excludeCredentials: (json.excludeCredentials || []).map((c) =>
        Object.assign({}, c, {id: b64urlToBuffer(c.id)})),
    });
  }
  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: b64urlToBuffer(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) =>
        Object.assign({}, c, {id: b64urlToBuffer(c.id)})),
    });
  }
  function answerJSON(credential) {
    if (typeof credential.toJSON === "function") {
      return credential.toJSON();
    }
    const r = credential.response;
    const response = {clientDataJSON: bufferToB64url(r.clientDataJSON)};
    if (r.attestationObject) {
      response.attestationObject = bufferToB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = bufferToB64url(r.authenticatorData);
      response.signature = bufferToB64url(r.signature);
      if (r.userHandle) response.userHandle = bufferToB64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: bufferToB64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: response,
    };
  }

  // The page's words for these sentences, in its language (data-passkey-texts).
  const texts = {};
  function say(key, english) {
    return texts[key] || english;
  }

  // What went wrong, in words.
  function browserError(error, creating) {
    switch (error && error.name) {
      case "NotAllowedError":
        return say("not_allowed", "The passkey request was canceled, timed out or not allowed. Try again, or use another way.");
      case "AbortError":
        return say("aborted", "The passkey request was canceled. Try again when you're ready.");
      case "InvalidStateError":
        return creating
          ? say("registered_already", "This device already holds a passkey for your account: you can use it to sign in.")
          : say("invalid_state", "This passkey can't be used here. Try another way.");
      case "SecurityError":
        return say("security", "This site's address doesn't allow passkeys. Use another way.");
      case "NotSupportedError":
        return say("not_supported", "This device has no passkey that fits. Use another way.");
      default:
        return say("failed", "The passkey didn't work. Try again, or use another way.");
    }
  }

  class Failure extends Error {}

  async function post(url, csrf, body) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify(body || {}),
      });
    } catch (_) {
      throw new Failure(say("unreachable", "We couldn't reach the server. Check your connection and try again."));
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch (_) {
      throw new Failure(say("expired", "This page has expired. Reload it and try again."));
    }
    if (answer.error) {
      if (answer.redirect) {
        window.location.assign(answer.redirect);
      }
      throw new Failure(answer.error.message);
    }
    return answer;
  }

  function show(box, message) {
    const out = box.querySelector("[data-passkey-error]");
    if (!out) return;
    out.textContent = message;
    out.hidden = !message;
  }

  async function ceremony(box, options) {
    const csrf = box.dataset.csrf;
    const base = box.dataset.passkeyUrl;
    const creating = box.dataset.passkey === "register";
    show(box, "");
    box.setAttribute("aria-busy", "true");
    try {
      const start = await post(base + "/options", csrf, {});
      let credential;
      try {
        credential = creating
          ? await navigator.credentials.create({publicKey: creationOptions(start.options)})
          : await navigator.credentials.get(Object.assign(
              {publicKey: requestOptions(start.options)}, options || {}));
      } catch (error) {
        if (options && options.mediation === "conditional" && error.name === "AbortError") {
          return;  // the autofill request gave way to the button
        }
        throw new Failure(browserError(error, creating));
      }
      if (!credential) throw new Failure(browserError(null, creating));
      const label = box.querySelector("[data-passkey-label]");
      const done = await post(base, csrf, {
        id: start.id,
        credential: answerJSON(credential),
        label: label ? label.value : undefined,
        next: box.dataset.next,
      });
      window.location.assign(done.redirect);
    } catch (error) {
      show(box, error instanceof Failure ? error.message : browserError(error, creating));
    } finally {
      box.removeAttribute("aria-busy");
    }
  }

  function setUp(box) {
    try {
      Object.assign(texts, JSON.parse(box.dataset.passkeyTexts || "{}"));
    } catch (_) {
      // English, then
    }
    const unsupported = box.querySelector("[data-passkey-unsupported]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      if (unsupported) {
        unsupported.textContent = say(
          "unsupported", "This browser doesn't support passkeys (WebAuthn), so the passkey option is hidden.");
      }
      return;
    }
    if (unsupported) unsupported.hidden = true;
    const controls = box.querySelector("[data-passkey-controls]");
    if (controls) controls.hidden = false;
    let autofill = null;
    const button = box.querySelector("[data-passkey-start]");
    if (button) {
      button.addEventListener("click", () => {
        if (autofill) autofill.abort();
        ceremony(box);
      });
    }
    // Conditional UI: passkeys offered in the name field's autofill on the sign-in page.
    if (box.dataset.conditional === "true" && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
        if (!available) return;
        autofill = new AbortController();
        ceremony(box, {mediation: "conditional", signal: autofill.signal});
      });
    }
  }

  document.querySelectorAll("[data-passkey]").forEach(setUp);
})();
