// The live view: the MJPEG stream in an <img>, appear/leave events from Server-Sent Events.
"use strict";

const statusLine = document.getElementById("status");
const list = document.getElementById("events");

function describe(event) {
  const who = event.name === "unknown" ? "someone unknown" : event.name;
  const when = event.time ? new Date(event.time).toLocaleTimeString() : `${event.ts}s`;
  if (event.event === "appeared") return `${when}: ${who} appeared`;
  if (event.event === "left") return `${when}: ${who} left after ${event.duration}s`;
  if (event.event === "renamed") return `${when}: ${event.previous} is ${who}`;
  return `${when}: ${event.event} ${who}`;
}

// /live?camera=NAME shows that camera; /live the first one. The name is one the server listed (no other path).
async function start() {
  const response = await fetch("/api/v1/live", { credentials: "same-origin" });
  const info = await response.json();
  if (!response.ok) {
    statusLine.textContent = response.status === 401 || response.status === 403
      ? "Sign in on the review page first (this server needs its API key)." : info.detail;
    statusLine.className = "error";
    return;
  }
  const wanted = new URLSearchParams(window.location.search).get("camera");
  const camera = (info.cameras || []).find((c) => c.name === wanted);
  const base = camera ? `/live/${encodeURIComponent(camera.name)}` : "/live";
  statusLine.textContent = camera ? `${camera.name}: ${camera.status}` : info.status;
  const video = document.getElementById("video");
  video.src = `${base}/stream.mjpg`;
  video.hidden = false;
  const events = new EventSource(`${base}/events`);
  events.onmessage = (message) => {
    const event = JSON.parse(message.data);
    const item = document.createElement("li");
    item.className = `live-event ${event.event}`;
    item.dataset.name = event.name;
    item.dataset.kind = event.event;
    item.textContent = describe(event);
    list.prepend(item);
  };
}

start();
