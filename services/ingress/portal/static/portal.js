// The merchant portal: plain JavaScript over the service's own HTTP API. Every value from the
// API goes into the page as text (textContent), never as markup.
"use strict";

const KEY = "ordersApiKey";
const REFRESH_MS = 2000;
let refreshing = null;

function $(selector, root = document) {
  return root.querySelector(selector);
}

function say(text, isError = false) {
  const notice = $("#notice");
  notice.textContent = text;
  notice.className = isError ? "error" : "ok";
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: {
      Authorization: "Bearer " + sessionStorage.getItem(KEY),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status === 401) {
    signOut("That API key was not accepted.");
    throw new Error("unauthorized");
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new Error((data && data.detail) || response.status + " " + response.statusText);
  }
  return data;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function localInputValue(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 19);
}

function renderAttempts(article, endpoint, attempts) {
  const body = $("tbody", article);
  body.replaceChildren();
  // "Send again" on the newest attempt of each event, when that attempt failed.
  const newest = new Set();
  const offerResend = new Set();
  for (const attempt of attempts) {
    if (!newest.has(attempt.eventId)) {
      newest.add(attempt.eventId);
      if (attempt.outcome === "failed") offerResend.add(attempt);
    }
  }
  for (const attempt of attempts) {
    const row = document.createElement("tr");
    row.className = "attempt " + attempt.outcome;
    cell(row, new Date(attempt.at).toLocaleString());
    cell(row, attempt.eventType);
    cell(row, attempt.orderId, "mono");
    cell(row, attempt.attempt);
    cell(row, attempt.outcome, "outcome");
    cell(row, attempt.statusCode ?? "—", "status-code");
    cell(row, Math.round(attempt.durationMs) + " ms");
    cell(row, attempt.error ?? "");
    const action = cell(row, "");
    if (offerResend.has(attempt)) {
      const resend = document.createElement("button");
      resend.type = "button";
      resend.className = "resend secondary";
      resend.textContent = "Send again";
      resend.addEventListener("click", async () => {
        try {
          const answer = await api("POST", `/webhook-endpoints/${encodeURIComponent(endpoint.id)}/resend`, {
            eventId: attempt.eventId,
          });
          say(`Event ${attempt.eventId} is sent again (${answer.replayed}).`);
        } catch (error) {
          say(error.message, true);
        }
      });
      action.appendChild(resend);
    }
    body.appendChild(row);
  }
}

function renderEndpoint(endpoint) {
  const article = $("#endpoint-template").content.firstElementChild.cloneNode(true);
  article.dataset.endpointId = endpoint.id;
  $(".url", article).textContent = endpoint.url;
  $(".state", article).textContent = endpoint.enabled ? "enabled" : "disabled";
  $(".state", article).className = "state " + (endpoint.enabled ? "on" : "off");
  $(".description", article).textContent = endpoint.description ?? "";
  $(".event-types", article).textContent = endpoint.eventTypes.join(", ");
  $(".statuses", article).textContent = endpoint.statuses.length ? endpoint.statuses.join(", ") : "all";
  $(".rate", article).textContent = endpoint.rateLimitPerSecond ? endpoint.rateLimitPerSecond + " a second" : "none";
  $(".id", article).textContent = endpoint.id;
  const path = `/webhook-endpoints/${encodeURIComponent(endpoint.id)}`;

  const toggle = $(".toggle", article);
  toggle.textContent = endpoint.enabled ? "Disable" : "Enable";
  toggle.addEventListener("click", async () => {
    try {
      await api("PATCH", path, { enabled: !endpoint.enabled });
      say(`Endpoint ${endpoint.url} is ${endpoint.enabled ? "disabled" : "enabled"}.`);
      await loadEndpoints();
    } catch (error) {
      say(error.message, true);
    }
  });

  $(".rotate", article).addEventListener("click", async () => {
    try {
      const answer = await api("POST", path + "/rotate-secret");
      const secret = $(".secret", article);
      secret.textContent = "New signing secret (shown once; the previous one signs too for 24 hours): " + answer.secret;
      secret.hidden = false;
    } catch (error) {
      say(error.message, true);
    }
  });

  const recover = $(".recover", article);
  recover.elements.since.value = localInputValue(new Date(Date.now() - 3600 * 1000));
  recover.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const since = new Date(recover.elements.since.value).toISOString();
      const answer = await api("POST", path + "/recover", { since });
      say(`${answer.replayed} failed event(s) since ${new Date(since).toLocaleString()} are sent again.`);
    } catch (error) {
      say(error.message, true);
    }
  });
  return article;
}

async function refreshAttempts() {
  for (const article of document.querySelectorAll("article.endpoint")) {
    const id = article.dataset.endpointId;
    try {
      const page = await api("GET", `/webhook-endpoints/${encodeURIComponent(id)}/attempts?pageSize=10`);
      renderAttempts(article, { id }, page.data);
    } catch (error) {
      say(error.message, true);
    }
  }
}

async function loadEndpoints() {
  const list = await api("GET", "/webhook-endpoints");
  const container = $("#endpoints");
  container.replaceChildren(...list.data.map(renderEndpoint));
  $("#no-endpoints").hidden = list.data.length > 0;
  await refreshAttempts();
}

async function showPortal() {
  $("#sign-in").hidden = true;
  $("#portal").hidden = false;
  try {
    await loadEndpoints();
  } catch (error) {
    if (error.message !== "unauthorized") say(error.message, true);
    return;
  }
  clearInterval(refreshing);
  refreshing = setInterval(() => {
    if (!document.hidden) refreshAttempts();
  }, REFRESH_MS);
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  clearInterval(refreshing);
  $("#portal").hidden = true;
  $("#sign-in").hidden = false;
  $("#endpoints").replaceChildren();
  $("#sign-in-error").textContent = message ?? "";
}

function listOf(text) {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("#api-key").value.trim());
    $("#api-key").value = "";
    $("#sign-in-error").textContent = "";
    showPortal();
  });
  $("#sign-out").addEventListener("click", () => signOut());
  $("#new-endpoint").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const body = {
      url: form.elements.url.value.trim(),
      eventTypes: [...form.querySelectorAll("input[name=eventTypes]:checked")].map((box) => box.value),
      statuses: listOf(form.elements.statuses.value),
    };
    if (form.elements.rateLimitPerSecond.value) body.rateLimitPerSecond = Number(form.elements.rateLimitPerSecond.value);
    if (form.elements.description.value.trim()) body.description = form.elements.description.value.trim();
    try {
      const created = await api("POST", "/webhook-endpoints", body);
      form.reset();
      await loadEndpoints();
      say(`Endpoint added. Its signing secret (shown once): ${created.secret}`);
    } catch (error) {
      say(error.message, true);
    }
  });
  if (sessionStorage.getItem(KEY)) showPortal();
});
