// The review page: people enrolled and groups of unknown faces, from /api/v1. No framework, no CDN.
"use strict";

const $ = (id) => document.getElementById(id);

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

class AuthNeeded extends Error {}

async function call(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) throw new AuthNeeded();
  const data = response.status === 204 ? {} : await response.json();
  if (!response.ok) throw new Error(data.detail || data.error || `HTTP ${response.status}`);
  return data;
}

function showPeople(people) {
  const grid = $("people");
  grid.replaceChildren();
  const names = $("people-names");
  names.replaceChildren();
  $("people-count").textContent = `(${people.length})`;
  $("no-people").hidden = people.length > 0;
  for (const person of people) {
    const card = $("person-card").content.firstElementChild.cloneNode(true);
    card.dataset.name = person.name;
    card.querySelector("img").src = person.thumbnail;
    card.querySelector("img").alt = person.name;
    card.querySelector(".name").textContent = person.name;
    card.querySelector(".counts").textContent = `${person.photos} photo${person.photos === 1 ? "" : "s"}, ${person.faces} with a face`;
    card.querySelector(".forget-button").addEventListener("click", () => forget(person.name));
    grid.append(card);
    const option = document.createElement("option");
    option.value = person.name;
    names.append(option);
  }
}

function showClusters(data) {
  const list = $("clusters");
  list.replaceChildren();
  $("unknown-count").textContent = `(${data.unknown_faces} faces, ${data.clusters.length} groups)`;
  $("no-clusters").hidden = data.clusters.length > 0;
  $("ungrouped").hidden = !data.ungrouped_faces;
  for (const group of data.clusters) {
    const card = $("cluster-card").content.firstElementChild.cloneNode(true);
    card.dataset.cluster = group.cluster;
    card.querySelector(".title").textContent =
      `Group ${group.cluster}: ${group.faces} faces in ${group.photos} photo${group.photos === 1 ? "" : "s"}`;
    const faces = card.querySelector(".faces");
    for (const detection of group.detections) {
      const label = document.createElement("label");
      label.className = "face";
      const img = document.createElement("img");
      img.src = detection.thumbnail;
      img.alt = `face ${detection.id}`;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.className = "drop-check";
      box.value = detection.id;
      label.append(img, box, document.createTextNode(" does not belong"));
      faces.append(label);
    }
    card.querySelector(".name-form").addEventListener("submit", (event) => {
      event.preventDefault();
      nameGroup(group.cluster, card.querySelector(".name-input").value, group.detections.map((d) => d.id));
    });
    card.querySelector(".drop-button").addEventListener("click", () => {
      const ticked = [...card.querySelectorAll(".drop-check:checked")].map((b) => Number(b.value));
      dropFaces(group.cluster, ticked);
    });
    list.append(card);
  }
}

async function refresh() {
  try {
    const [people, clusters] = await Promise.all([call("GET", "/api/v1/people"), call("GET", "/api/v1/clusters")]);
    $("login").hidden = true;
    $("main").hidden = false;
    showPeople(people.people);
    showClusters(clusters);
    document.body.dataset.ready = "1";
  } catch (error) {
    if (error instanceof AuthNeeded) {
      $("main").hidden = true;
      $("login").hidden = false;
      say("Sign in with the server's API key.");
    } else say(error.message, true);
  }
}

async function act(work, done) {
  try {
    const result = await work();
    say(done(result));
    await refresh();
  } catch (error) {
    if (error instanceof AuthNeeded) await refresh();
    else say(error.message, true);
  }
}

// `seen`: the faces this page shows; the server refuses (409) when the group no longer has exactly these.
function nameGroup(cluster, name, seen) {
  return act(() => call("POST", `/api/v1/clusters/${cluster}/name`, { name: name.trim(), detections: seen }),
    (r) => `${r.faces_enrolled} faces of group ${r.cluster} ${r.merged ? "merged into" : "enrolled as"} ${r.name}.`);
}

function dropFaces(cluster, detections) {
  if (!detections.length) return say("Tick the faces that do not belong first.", true);
  return act(() => call("POST", `/api/v1/clusters/${cluster}/drop`, { detections }),
    (r) => `Dropped ${r.dropped.length} face${r.dropped.length === 1 ? "" : "s"} from group ${r.cluster}.`);
}

// Reading the groups never regroups them (a GET changes nothing); tag jobs regroup when they finish.
function regroup() {
  return act(() => call("POST", "/api/v1/clusters/recompute"),
    (r) => `Grouped the unknown faces again: ${r.clusters} group${r.clusters === 1 ? "" : "s"}.`);
}

function forget(name) {
  if (!window.confirm(`Forget ${name}: delete every photo and embedding of them?`)) return;
  return act(() => call("DELETE", `/api/v1/people/${encodeURIComponent(name)}`), () => `Forgot ${name}.`);
}

async function followJob(job) {
  while (job.state === "queued" || job.state === "running") {
    $("tag-progress").textContent = `${job.state}: ${job.analysed} of ${job.photos} photos analysed`;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    job = (await call("GET", `/api/v1/jobs/${job.id}`)).job;
  }
  $("tag-progress").textContent = job.state === "done"
    ? `done: ${job.summary.photos} photos, ${job.summary.faces} faces, ${job.summary.unknown} unknown`
    : `failed: ${job.error}`;
  await refresh();
}

$("regroup-button").addEventListener("click", regroup);

$("tag-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act(() => call("POST", "/api/v1/tag", { album: $("tag-album").value }), (r) => {
    followJob(r.job);
    return `Tagging ${r.job.album} ...`;
  });
});

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await call("POST", "/api/v1/login", new FormData(event.target));
    $("login-key").value = "";
    say("Signed in.");
    await refresh();
  } catch (error) {
    say(error instanceof AuthNeeded ? "That is not the key." : error.message, true);
  }
});

refresh();
