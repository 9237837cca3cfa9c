// The dashboard page: sign in with an API key (kept in sessionStorage only, so it leaves with the tab), pick a
// project, and watch its widgets refresh in place every few seconds. Every figure comes from the platform's
// HTTP API with the key; routes this platform does not have (404) show "not available" in their widget only.

import { getJson, mapLimited, SignedOutError } from "./api.js";
import {
  renderCollaborators, renderCounts, renderExports, renderIssues, renderLabelingStatus, renderOpenTasks,
  renderOrchestrations, renderRejection, renderTasks, renderThroughput,
} from "./widgets.js";

const KEY_STORAGE = "dashboard.apiKey";
const PROJECT_STORAGE = "dashboard.projectId";

/** Refresh period; `?refresh=SECONDS` (1..300) overrides it, e.g. for a wall screen or a test. */
const refreshMs = (() => {
  const asked = Number(new URLSearchParams(location.search).get("refresh"));
  return Number.isFinite(asked) && asked >= 1 && asked <= 300 ? asked * 1000 : 5000;
})();

/** Upper bounds that keep one refresh cheap on big projects; widgets say when they show the first ones only. */
const MAX_TASKS = 50;
const MAX_QA_TASKS = 20;
const MAX_DOWNLOAD_LINKS = 10;

const $ = (id) => document.getElementById(id);
const body = (testId) => document.querySelector(`[data-testid="${testId}"]`);

let timer = null;
let inFlight = null;
let generation = 0;
const downloadLinks = new Map();

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

function say(text) {
  $("message").textContent = text ?? "";
}

function showSignedIn(signedIn) {
  $("sign-in").hidden = signedIn;
  $("session").hidden = !signedIn;
  $("widgets").hidden = !signedIn || !$("project").value;
}

function signOut(reason) {
  sessionStorage.removeItem(KEY_STORAGE);
  sessionStorage.removeItem(PROJECT_STORAGE);
  stopPolling();
  downloadLinks.clear();
  $("project").replaceChildren();
  $("api-key").value = "";
  showSignedIn(false);
  say(reason);
}

async function signIn(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    const projects = await getJson(key, "/api/projects?pageSize=200");
    if (projects.state !== "ok") {
      signOut(`Could not list your projects (${projects.message ?? projects.state}).`);
      return;
    }
    const items = projects.data.items ?? [];
    const select = $("project");
    select.replaceChildren(new Option("Choose a project…", ""), ...items.map((p) => new Option(`${p.name} (${p.role ?? "member"})`, p.id)));
    showSignedIn(true);
    say(items.length === 0 ? "You are not a member of any project yet." : "");
    const remembered = sessionStorage.getItem(PROJECT_STORAGE);
    if (remembered && items.some((p) => p.id === remembered)) {
      select.value = remembered;
      selectProject(remembered);
    }
  } catch (error) {
    if (error instanceof SignedOutError) signOut(error.message);
    else throw error;
  }
}

function stopPolling() {
  generation++;
  clearTimeout(timer);
  timer = null;
  inFlight?.abort();
  inFlight = null;
}

function selectProject(projectId) {
  stopPolling();
  downloadLinks.clear();
  if (!projectId) {
    sessionStorage.removeItem(PROJECT_STORAGE);
    $("widgets").hidden = true;
    return;
  }
  sessionStorage.setItem(PROJECT_STORAGE, projectId);
  $("widgets").hidden = false;
  refresh(projectId, generation);
}

/** One refresh: load everything, render every widget, then schedule the next (never two at once). */
async function refresh(projectId, mine) {
  const controller = new AbortController();
  inFlight = controller;
  try {
    const data = await load(projectId, apiKey(), controller.signal);
    if (mine !== generation) return;
    render(data);
    const now = new Date();
    const stamp = $("last-updated");
    stamp.dateTime = now.toISOString();
    stamp.textContent = now.toLocaleTimeString();
    stamp.dataset.refreshes = String(Number(stamp.dataset.refreshes ?? "0") + 1);
    say("");
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error instanceof SignedOutError) {
      signOut(error.message);
      return;
    }
    say(`Refresh failed: ${error.message}`);
  } finally {
    if (inFlight === controller) inFlight = null;
  }
  if (mine === generation) timer = setTimeout(() => refresh(projectId, mine), refreshMs);
}

async function load(projectId, key, signal) {
  const base = `/api/projects/${encodeURIComponent(projectId)}`;
  const get = (path) => getJson(key, base + path, { signal });

  const [dashboard, taskPage, orchestrations, exports, summary, throughput, labels, collaborators, issueAnalytics] = await Promise.all([
    get("/dashboard"),
    get(`/tasks?pageSize=${MAX_TASKS}`),
    get("/orchestrations?runtimeStatus=Pending,Running,Suspended&pageSize=50"),
    get("/exports"),
    get("/analytics/summary"),
    get("/analytics/throughput"),
    get("/analytics/labels"),
    get("/analytics/collaborators"),
    get("/analytics/issues"),
  ]);

  // The task list carries no progress: each task's own answer does.
  let tasks = taskPage;
  if (taskPage.state === "ok") {
    const listed = taskPage.data.items ?? [];
    const detailed = await mapLimited(listed, 4, async (task) => {
      const one = await get(`/tasks/${encodeURIComponent(task.id)}`);
      return one.state === "ok" ? one.data : { task, progress: null };
    });
    tasks = { state: "ok", items: detailed, truncated: Boolean(taskPage.data.continuationToken) };
  }

  let issues = tasks;
  if (tasks.state === "ok") {
    const qaTasks = tasks.items.filter((t) => t.task.type === "qa");
    const pages = await mapLimited(qaTasks.slice(0, MAX_QA_TASKS), 4, (t) => get(`/tasks/${encodeURIComponent(t.task.id)}/issues?pageSize=200`));
    const failed = pages.find((p) => p.state !== "ok");
    issues = failed ?? { state: "ok", items: pages.flatMap((p) => p.data.items ?? []), truncated: qaTasks.length > MAX_QA_TASKS };
  }

  if (exports.state === "ok") {
    await refreshDownloadLinks(base, key, exports.data.items ?? [], signal);
  }

  return { dashboard, tasks, issues, orchestrations, exports, summary, throughput, labels, collaborators, issueAnalytics };
}

/** Signed download URLs of finished exports, asked once each and kept until they expire. */
async function refreshDownloadLinks(base, key, exports, signal) {
  const now = Date.now();
  const wanted = exports.filter((e) => e.state === "done").slice(0, MAX_DOWNLOAD_LINKS)
    .filter((e) => {
      const known = downloadLinks.get(e.id);
      return !known || (known.expiresAt && Date.parse(known.expiresAt) - 60000 < now);
    });
  await mapLimited(wanted, 3, async (e) => {
    const answer = await getJson(key, `${base}/exports/${encodeURIComponent(e.id)}/download`, { signal });
    downloadLinks.set(e.id, answer.state === "ok" && answer.data.url
      ? { url: answer.data.url, expiresAt: answer.data.expiresAt }
      : { message: answer.state === "redirect" ? "link redirects (open the API route)" : "link not available" });
  });
}

function render(data) {
  const datasetNames = new Map(data.dashboard.state === "ok" ? (data.dashboard.data.perDataset ?? []).map((d) => [d.datasetId, d.name]) : []);
  const taskNames = new Map(data.tasks.state === "ok" ? data.tasks.items.map((t) => [t.task.id, t.task.name]) : []);
  renderCounts(body("counts"), data.dashboard, data.tasks);
  renderLabelingStatus(body("labeling-status"), data.dashboard, data.tasks);
  renderOpenTasks(body("open-tasks"), data.dashboard, data.tasks);
  renderTasks(body("tasks"), data.tasks, datasetNames);
  renderThroughput(body("throughput"), data.throughput);
  renderRejection(body("rejection"), data.labels);
  renderCollaborators(body("collaborators"), data.collaborators, data.summary);
  renderIssues(body("issues"), data.issues, data.issueAnalytics, taskNames);
  renderOrchestrations(body("orchestrations"), data.orchestrations, data.exports);
  renderExports(body("exports"), data.exports, downloadLinks);
}

$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (key) signIn(key);
});
$("sign-out").addEventListener("click", () => signOut("Signed out."));
$("project").addEventListener("change", (event) => selectProject(event.target.value));

if (apiKey()) signIn(apiKey());
else showSignedIn(false);
