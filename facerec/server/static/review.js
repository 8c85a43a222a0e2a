// The review page: people, one person's faces, unknown faces, enroll and test, history and undo; all from
// /api/v1. No framework, no CDN. Names are user data: every text from the server goes in as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 48;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const enc = encodeURIComponent;

// el("button", {type: "button", class: "x", onclick: f}, "text", child...): strings become text nodes.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") Object.assign(node.style, value);  // CSSOM: allowed by the page's CSP
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

class AuthNeeded extends Error {}
class HttpError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function call(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) throw new AuthNeeded();
  const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
  if (!response.ok) throw new HttpError(data.detail || data.error || `HTTP ${response.status}`, response.status);
  return data;
}

// --------------------------------------------------------------------------- routes

// #/people, #/person/NAME, #/unknown, #/add, #/history
function route() {
  const parts = window.location.hash.replace(/^#\/?/, "").split("/");
  if (parts[0] === "person" && parts.length > 1) return { view: "person", name: decodeURIComponent(parts.slice(1).join("/")) };
  return { view: ["unknown", "add", "history"].includes(parts[0]) ? parts[0] : "people" };
}

const personLink = (name) => `#/person/${enc(name)}`;
const views = { people: showPeopleView, person: showPersonView, unknown: showUnknownView, add: async () => {}, history: showHistoryView };
const paging = { people: 0, checks: 0, suggestions: 0, faces: 0, loose: 0 };
let shownPerson = null;

async function render() {
  const { view, name } = route();
  if (view === "person" && name !== shownPerson) {
    paging.suggestions = paging.faces = 0;
    shownPerson = name;
  }
  try {
    await loadNames();
    $("login").hidden = true;
    $("main").hidden = false;
    for (const section of document.querySelectorAll(".view")) section.hidden = section.dataset.view !== view;
    for (const link of document.querySelectorAll("nav a[data-view]")) {
      if (link.dataset.view === view || (view === "person" && link.dataset.view === "people")) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    await Promise.all([views[view](name), loadLastStep()]);
    document.body.dataset.view = view;
    document.body.dataset.ready = "1";
  } catch (error) {
    if (error instanceof AuthNeeded) {
      $("main").hidden = true;
      $("login").hidden = false;
      say("Sign in with the server's API key.");
    } else say(error.message, true);
  }
}

// Run a change, show the page again, then say what it did. `after` may change the route (a renamed person).
let acting = false;  // a change in progress: the route it moves to keeps its message

async function act(work, done, after) {
  acting = true;
  try {
    const result = await work();
    const message = done(result);
    if (after) after(result);
    await render();
    say(message);  // last: once it shows, the page shows the change too
    return result;
  } catch (error) {
    if (error instanceof AuthNeeded) await render();
    else {
      say(error.message, true);
      if (error.status === 409) await render();  // stale: show what the server has now
    }
    return null;
  } finally {
    acting = false;
  }
}

// --------------------------------------------------------------------------- people

let everyone = [];

async function loadNames() {
  everyone = (await call("GET", "/api/v1/people")).people;
  $("people-names").replaceChildren(...everyone.map((p) => el("option", { value: p.name })));
}

function pager(nav, page, key, go) {
  nav.replaceChildren();
  if (page.total <= page.limit) return;
  const last = Math.min(page.offset + page.limit, page.total);
  const turn = (offset) => () => { paging[key] = offset; go(); };
  nav.append(
    el("button", { type: "button", class: "prev", disabled: page.offset === 0, onclick: turn(Math.max(0, page.offset - page.limit)) }, "← Previous"),
    el("span", { class: "range" }, `${page.offset + 1}–${last} of ${page.total}`),
    el("button", { type: "button", class: "next", disabled: last >= page.total, onclick: turn(page.offset + page.limit) }, "Next →"));
}

function personCard(person) {
  return el("li", { class: `person card${person.hidden ? " is-hidden" : ""}`, dataset: { name: person.name } },
    el("a", { href: personLink(person.name), class: "person-link" },
      el("img", { src: person.cover_thumbnail || person.thumbnail, alt: "", width: 112, height: 112, loading: "lazy" }),
      el("b", { class: "name" }, person.name)),
    el("span", { class: "counts" }, `${plural(person.photos, "photo")}, ${person.faces} with a face`),
    person.hidden ? el("span", { class: "badge" }, "hidden") : null);
}

async function showPeopleView() {
  const q = $("people-search").value.trim();
  const hidden = $("show-hidden").checked;
  const [page, checks] = await Promise.all([
    call("GET", `/api/v1/review/people?q=${enc(q)}&hidden=${hidden}&offset=${paging.people}&limit=${PAGE}`),
    call("GET", `/api/v1/review/faces?suggested=true&offset=${paging.checks}&limit=${PAGE}`)]);
  if ((page.total && page.offset >= page.total) || (checks.total && checks.offset >= checks.total)) {
    paging.people = paging.checks = 0;
    return showPeopleView();
  }
  $("checks").replaceChildren(...checks.faces.map((f) => suggestionCard(f, f.name, true)));
  $("checks-count").textContent = `(${checks.total})`;
  $("no-checks").hidden = checks.total > 0;
  pager($("checks-pager"), checks, "checks", render);
  $("people").replaceChildren(...page.people.map(personCard));
  $("people-count").textContent = q ? `(${page.total} matching “${q}”)` : `(${page.total}${page.hidden ? `, ${page.hidden} hidden` : ""})`;
  $("no-people").hidden = page.total > 0 || Boolean(q);
  pager($("people-pager"), page, "people", render);
}

let searchTimer = null;
$("people-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { paging.people = 0; render(); }, 200);
});
$("show-hidden").addEventListener("change", () => { paging.people = 0; render(); });

// --------------------------------------------------------------------------- one person

function faceImage(face, label) {
  return el("button", { type: "button", class: "face-open", title: "Show the photo it came from", onclick: () => openPhoto(face, label) },
    el("img", { src: face.thumbnail, alt: label, width: 112, height: 112, loading: "lazy" }));
}

function describeFace(face) {
  if (face.kind === "sample") return "enrolled sample";
  if (face.named_by === "facerec") return `named by facerec, ${Math.round((face.score || 0) * 100)} %`;
  if (face.named_by === "person") return "named by you";
  return face.named_by ? `named by ${face.named_by}` : "unknown";
}

function openPhoto(face, label) {
  $("photo-title").textContent = `${label}: ${face.path ? face.path.split(/[\\/]/).pop().replace(/#face\d+$/, "") : "photo"}`;
  $("photo-image").src = face.photo;
  $("photo-image").alt = `the photo ${label} came from, the face boxed`;
  $("photo-dialog").showModal();
}

// A small form that appears in a card: "Move to [name] [Move]".
function moveForm(face, person) {
  const input = el("input", { list: "people-names", required: true, maxlength: 200, class: "move-input", "aria-label": `Move face ${face.id} to` });
  const form = el("form", { class: "move-form inline", hidden: true,
    onsubmit: (event) => {
      event.preventDefault();
      act(() => call("POST", `/api/v1/faces/${face.id}/move`, { to: input.value.trim(), seen: person }),
        (r) => `Moved face ${r.face} from ${r.from} to ${r.to}.`);
    } }, input, el("button", { type: "submit" }, "Move"));
  return form;
}

function personFaceCard(face, person, cover) {
  const label = `face ${face.id}`;
  const move = face.kind === "album" ? moveForm(face, person) : null;  // a sample is its person's by enrolment
  const isCover = face.id === cover;
  return el("li", { class: `face card${isCover ? " is-cover" : ""}`, dataset: { face: face.id, kind: face.kind } },
    faceImage(face, label),
    el("span", { class: "meta" }, isCover ? `${describeFace(face)} · cover` : describeFace(face)),
    el("div", { class: "buttons" },
      isCover ? null : el("button", { type: "button", class: "cover-button",
        onclick: () => act(() => call("POST", `/api/v1/people/${enc(person)}/cover`, { face: face.id }),
          () => `The cover of ${person} is now face ${face.id}.`) }, "Make cover"),
      face.kind === "album" ? el("button", { type: "button", class: "move-button", "aria-expanded": "false",
        onclick: (event) => {
          move.hidden = !move.hidden;
          event.currentTarget.setAttribute("aria-expanded", String(!move.hidden));
          if (!move.hidden) move.querySelector("input").focus();
        } }, "Move…") : null,
      face.kind === "album" ? el("button", { type: "button", class: "reject-button",
        onclick: () => act(() => call("POST", `/api/v1/faces/${face.id}/reject`, { seen: person }),
          () => `Face ${face.id} is not ${person}: facerec will not name it so again.`) }, `Not ${person}`) : null),
    move);
}

// "Is this P?" with Yes / No; `asking`: the question shown on the card (the list of everyone's suggestions).
function suggestionCard(face, person, asking = false) {
  const label = `face ${face.id}`;
  return el("li", { class: "face card suggestion", dataset: { face: face.id, name: person } },
    faceImage(face, label),
    asking ? el("a", { href: personLink(person), class: "question" }, `Is this ${person}?`) : null,
    el("span", { class: "meta" }, `${Math.round((face.score || 0) * 100)} % sure`),
    el("div", { class: "buttons" },
      el("button", { type: "button", class: "confirm-button good",
        onclick: () => act(() => call("POST", `/api/v1/faces/${face.id}/confirm`, { seen: person }),
          () => `Confirmed: face ${face.id} is ${person}.`) }, `Yes, ${person}`),
      el("button", { type: "button", class: "reject-button",
        onclick: () => act(() => call("POST", `/api/v1/faces/${face.id}/reject`, { seen: person }),
          () => `Face ${face.id} is not ${person}: facerec will not name it so again.`) }, "No")));
}

async function showPersonView(name) {
  for (const span of document.querySelectorAll(".person-name")) span.textContent = name;
  $("person-name").textContent = name;
  const person = everyone.find((p) => p.name === name);
  $("view-person").dataset.person = name;
  $("view-person").classList.toggle("missing", !person);
  if (!person) {
    $("person-counts").textContent = "Nobody is called that (any more): renamed, merged or forgotten?";
    for (const id of ["person-suggestions", "person-faces", "suggestions-pager", "faces-pager"]) $(id).replaceChildren();
    $("person-similar").hidden = $("person-hidden").hidden = true;
    return;
  }
  $("person-counts").textContent = `${plural(person.photos, "enrolled photo")}, ${person.faces} with a face`;
  $("person-hidden").hidden = !person.hidden;
  $("hide-button").textContent = person.hidden ? "Unhide" : "Hide";
  showSimilar(person);
  const base = `/api/v1/review/faces?person=${enc(name)}&limit=${PAGE}`;
  const [suggested, all] = await Promise.all([
    call("GET", `${base}&suggested=true&offset=${paging.suggestions}`), call("GET", `${base}&offset=${paging.faces}`)]);
  $("person-suggestions").replaceChildren(...suggested.faces.map((f) => suggestionCard(f, name)));
  $("suggestions-count").textContent = `(${suggested.total})`;
  $("no-suggestions").hidden = suggested.total > 0;
  pager($("suggestions-pager"), suggested, "suggestions", render);
  $("person-faces").replaceChildren(...all.faces.map((f) => personFaceCard(f, name, person.cover)));
  $("faces-count").textContent = `(${all.total})`;
  pager($("faces-pager"), all, "faces", render);
}

// "Katy_Perry" and "katy perry": probably one person enrolled twice (GET /people's `similar`).
function showSimilar(person) {
  const similar = (person.similar || []).filter((n) => n !== person.name);
  $("person-similar").hidden = similar.length === 0;
  $("person-similar").replaceChildren(similar.length ? "Same person? " : "",
    ...similar.map((other) => el("button", { type: "button", class: "merge-suggestion",
      onclick: () => mergeInto(person.name, other) }, `Merge into ${other}`)));
}

function mergeInto(name, into) {
  return act(() => call("POST", `/api/v1/people/${enc(name)}/merge`, { into }),
    (r) => `Merged ${r.merged} into ${r.person}.${r.note ? ` ${r.note}` : ""}`, (r) => { window.location.hash = personLink(r.person); });
}

$("rename-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = route().name;
  act(() => call("POST", `/api/v1/people/${enc(name)}/rename`, { to: $("rename-input").value.trim() }),
    (r) => `Renamed ${r.was} to ${r.person}.${r.note ? ` ${r.note}` : ""}`,
    (r) => { $("rename-input").value = ""; window.location.hash = personLink(r.person); });
});

$("merge-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const into = $("merge-input").value.trim();
  $("merge-input").value = "";
  mergeInto(route().name, into);
});

$("hide-button").addEventListener("click", () => {
  const name = route().name;
  const person = everyone.find((p) => p.name === name);
  const verb = person && person.hidden ? "unhide" : "hide";
  act(() => call("POST", `/api/v1/people/${enc(name)}/${verb}`),
    (r) => (r.hidden ? `${r.person} is hidden: left out of the people list.` : `${r.person} is shown again.`));
});

$("forget-button").addEventListener("click", () => {
  const name = route().name;
  if (!window.confirm(`Forget ${name}: delete every photo and embedding of them? This cannot be undone.`)) return;
  act(() => call("DELETE", `/api/v1/people/${enc(name)}`), () => `Forgot ${name}.`,
    () => { window.location.hash = "#/people"; });
});

// --------------------------------------------------------------------------- unknown faces

function clusterCard(group) {
  const card = $("cluster-card").content.firstElementChild.cloneNode(true);
  card.dataset.cluster = group.cluster;
  card.querySelector(".title").textContent =
    `Group ${group.cluster}: ${group.faces} faces in ${plural(group.photos, "photo")}`;
  const faces = card.querySelector(".faces");
  for (const detection of group.detections) {
    const check = el("input", { type: "checkbox", class: "drop-check", value: detection.id });
    faces.append(el("label", { class: "face" },
      el("img", { src: detection.thumbnail, alt: `face a${detection.id}`, width: 112, height: 112 }),
      el("span", {}, check, " does not belong")));
  }
  card.querySelector(".name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    nameGroup(group.cluster, card.querySelector(".name-input").value, group.detections.map((d) => d.id));
  });
  card.querySelector(".drop-button").addEventListener("click", () => {
    const ticked = [...card.querySelectorAll(".drop-check:checked")].map((b) => Number(b.value));
    dropFaces(group.cluster, ticked);
  });
  return card;
}

function looseFaceCard(face) {
  const label = `face ${face.id}`;
  const input = el("input", { list: "people-names", required: true, maxlength: 200, class: "name-input", "aria-label": `Who is face ${face.id}?` });
  return el("li", { class: "face card loose", dataset: { face: face.id } },
    faceImage(face, label),
    el("form", { class: "inline", onsubmit: (event) => {
      event.preventDefault();
      act(() => call("POST", `/api/v1/faces/${face.id}/confirm`, { name: input.value.trim(), seen: "unknown" }),
        (r) => `Face ${face.id} is ${r.confirmed[0].name}.`);
    } }, input, el("button", { type: "submit" }, "Name")));
}

async function showUnknownView() {
  const [data, loose] = await Promise.all([call("GET", "/api/v1/clusters"),
    call("GET", `/api/v1/review/faces?ungrouped=true&offset=${paging.loose}&limit=${PAGE}`)]);
  $("clusters").replaceChildren(...data.clusters.map(clusterCard));
  $("unknown-count").textContent = `(${data.unknown_faces} faces, ${plural(data.clusters.length, "group")})`;
  $("no-clusters").hidden = data.clusters.length > 0;
  $("ungrouped").hidden = !data.ungrouped_faces;
  $("loose-faces").replaceChildren(...loose.faces.map(looseFaceCard));
  $("loose-count").textContent = `(${loose.total})`;
  pager($("loose-pager"), loose, "loose", render);
}

// `seen`: the faces this page shows; the server refuses (409) when the group no longer has exactly these.
function nameGroup(cluster, name, seen) {
  return act(() => call("POST", `/api/v1/clusters/${cluster}/name`, { name: name.trim(), detections: seen }),
    (r) => `${r.faces_enrolled} faces of group ${r.cluster} ${r.merged ? "merged into" : "enrolled as"} ${r.name}.${r.note ? ` ${r.note}` : ""}`);
}

function dropFaces(cluster, detections) {
  if (!detections.length) return say("Tick the faces that do not belong first.", true);
  return act(() => call("POST", `/api/v1/clusters/${cluster}/drop`, { detections }),
    (r) => `Dropped ${plural(r.dropped.length, "face")} from group ${r.cluster}.`);
}

// Reading the groups never regroups them (a GET changes nothing); tag jobs regroup when they finish.
$("regroup-button").addEventListener("click", () => act(() => call("POST", "/api/v1/clusters/recompute"),
  (r) => `Grouped the unknown faces again: ${plural(r.clusters, "group")}.`));

async function followJob(job) {
  while (job.state === "queued" || job.state === "running") {
    $("tag-progress").textContent = `${job.state}: ${job.analysed} of ${job.photos} photos analysed`;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    job = (await call("GET", `/api/v1/jobs/${job.id}`)).job;
  }
  $("tag-progress").textContent = job.state === "done"
    ? `done: ${job.summary.photos} photos, ${job.summary.faces} faces, ${job.summary.unknown} unknown`
    : `failed: ${job.error}`;
  await render();
}

$("tag-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act(() => call("POST", "/api/v1/tag", { album: $("tag-album").value }), (r) => {
    followJob(r.job);
    return `Tagging ${r.job.album} ...`;
  });
});

// --------------------------------------------------------------------------- enroll and test

$("enroll-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("enroll-name").value.trim();
  const body = new FormData();
  for (const file of $("enroll-photos").files) body.append("images", file, file.name);
  const result = $("enroll-result");
  result.replaceChildren();
  try {
    const r = await call("POST", `/api/v1/people/${enc(name)}/photos`, body);
    const spelt = r.person !== name ? ` (“${name}” is ${r.person}: names that differ only by case or separators are one person)` : "";
    say(`Enrolled ${r.enrolled} of ${plural(r.photos.length, "photo")} as ${r.person}.${spelt}`);
    result.append(...r.photos.map((p) => el("li", { class: p.status }, `${p.file}: ${p.status}${p.note ? ` (${p.note})` : ""}`)));
    result.append(el("li", {}, el("a", { href: personLink(r.person) }, `See ${r.person}`)));
    $("enroll-form").reset();
    await loadNames();
  } catch (error) {
    if (error instanceof AuthNeeded) return render();
    say(error.message, true);
  }
});

$("test-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("test-photo").files[0];
  if (!file) return;
  const body = new FormData();
  body.append("image", file, file.name);
  say("Looking for faces…");
  try {
    const r = await call("POST", "/api/v1/identify", body);
    await showTested(file, r.faces);
    const named = r.faces.filter((f) => f.name !== "unknown").map((f) => f.name);
    say(`${plural(r.faces.length, "face")} found${named.length ? `: ${named.join(", ")}` : ", nobody known"}.`);
  } catch (error) {
    if (error instanceof AuthNeeded) return render();
    say(error.message, true);
  }
});

// The photo with a box and a name over each face; boxes in % of the image, so they follow its scaled size.
async function showTested(file, faces) {
  const image = $("test-image");
  const old = image.src;
  image.src = URL.createObjectURL(file);
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  await image.decode().catch(() => {});
  const holder = image.parentElement;
  for (const box of holder.querySelectorAll(".box")) box.remove();
  const [w, h] = [image.naturalWidth || 1, image.naturalHeight || 1];
  faces.forEach((face, i) => {
    const [x, y, bw, bh] = face.box;
    const known = face.name !== "unknown";
    holder.append(el("span", { class: `box${known ? " known" : ""}`, "aria-hidden": "true",
      style: { left: `${(100 * x) / w}%`, top: `${(100 * y) / h}%`, width: `${(100 * bw) / w}%`, height: `${(100 * bh) / h}%` } },
    el("span", { class: "label" }, `${i + 1}. ${face.name}`)));
  });
  $("test-faces").replaceChildren(...faces.map((face) => el("li", { class: "tested-face", dataset: { name: face.name } },
    face.name === "unknown" ? "unknown" : `${face.name} (${Math.round((face.score || 0) * 100)} %)`)));
  $("test-result").hidden = false;
}

// --------------------------------------------------------------------------- history and undo

let historyMissing = false;

async function history(limit) {
  if (historyMissing) return null;
  try {
    return (await call("GET", `/api/v1/history?limit=${limit}`)).steps;
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) { historyMissing = true; return null; }
    throw error;
  }
}

async function loadLastStep() {
  const steps = await history(1);
  const button = $("undo-button");
  button.hidden = steps !== null && steps.length === 0;
  button.title = steps && steps.length ? `Undo: ${steps[0].summary} (keyboard: u)` : "Undo the last change (keyboard: u)";
}

async function showHistoryView() {
  const steps = await history(20);
  const list = $("history");
  if (steps === null) {
    list.replaceChildren();
    $("no-history").hidden = false;
    $("no-history").textContent = "This server keeps no history list; Undo still takes back the last decision.";
    return;
  }
  list.replaceChildren(...steps.map((step, i) => el("li", { dataset: { step: step.step, kind: step.kind } },
    el("span", { class: "summary" }, step.summary),
    el("time", { datetime: new Date(step.at * 1000).toISOString() }, new Date(step.at * 1000).toLocaleString()),
    el("button", { type: "button", class: "undo-to", onclick: () => undo(i + 1) }, i === 0 ? "Undo" : `Undo this and ${plural(i, "newer change")}`))));
  $("no-history").hidden = steps.length > 0;
  $("no-history").textContent = "Nothing to undo.";
}

function undo(steps = 1) {
  return act(() => call("POST", "/api/v1/undo", { steps }),
    (r) => {
      const summaries = (r.steps || []).map((s) => s.summary).filter(Boolean);
      return summaries.length ? `Undone: ${summaries.join("; ")}.` : `Undone: ${plural(steps, "change")}.`;
    });
}

$("undo-button").addEventListener("click", () => undo(1));

function typing(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || target.isContentEditable;
}

document.addEventListener("keydown", (event) => {
  if (typing(event.target) || $("main").hidden || $("photo-dialog").open) return;
  const ctrlZ = (event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z";
  const plainU = event.key === "u" && !event.ctrlKey && !event.metaKey && !event.altKey;
  if (ctrlZ || plainU) {
    event.preventDefault();
    undo(1);
  }
});

// --------------------------------------------------------------------------- sign in, start

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await call("POST", "/api/v1/login", new FormData(event.target));
    $("login-key").value = "";
    say("Signed in.");
    await render();
  } catch (error) {
    say(error instanceof AuthNeeded ? "That is not the key." : error.message, true);
  }
});

$("photo-dialog").addEventListener("close", () => { $("photo-image").removeAttribute("src"); });
window.addEventListener("hashchange", () => {
  if (!acting) say("");  // the last action's message belongs to the view it was made on
  render();
  $("main").focus({ preventScroll: true });
});
render();
