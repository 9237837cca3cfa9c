// Rendering of each widget from API answers. Data is only ever put into the DOM as text (never as HTML),
// so names and comments typed by users cannot inject markup. Each renderer replaces its widget's body in
// place; charts are kept and their data swapped, so a refresh does not flicker or reset the page.

const numberFormat = new Intl.NumberFormat("en-US");

/** Replaces a widget body's content; absent parts (null, undefined, false) are skipped. */
function fill(body, ...parts) {
  body.replaceChildren(...parts.filter((p) => p !== null && p !== undefined && p !== false));
}

/** Creates an element: attributes (class, data-*, ...) and children (nodes or text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const formatNumber = (n) => (typeof n === "number" ? numberFormat.format(n) : "–");

function percent(rate) {
  return typeof rate === "number" ? `${(rate * 100).toFixed(1)}%` : "–";
}

function duration(ms) {
  if (typeof ms !== "number") return "–";
  const minutes = Math.round(ms / 60000);
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The placeholder of a widget whose route this platform does not have (404) or the caller may not read. */
export function unavailable(result, what) {
  if (result.state === "missing") return el("p", { class: "not-available", "data-testid": "not-available" }, `${what}: not available on this platform.`);
  if (result.state === "forbidden") return el("p", { class: "not-available", "data-testid": "not-permitted" }, `${what}: your role may not read this.`);
  return el("p", { class: "error", "data-testid": "widget-error" }, `${what}: ${result.message ?? "could not be loaded"}.`);
}

function table(columns, rows, rowAttributes = () => ({})) {
  return el("table", {},
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : undefined }, c.title)))),
    el("tbody", {}, rows.map((row) => el("tr", rowAttributes(row),
      columns.map((c) => {
        const value = c.value(row);
        return el("td", { class: c.num ? "num" : undefined, "data-col": c.key }, value instanceof Node ? value : typeof value === "number" ? formatNumber(value) : value ?? "–");
      })))));
}

function stat(label, value, testId) {
  return el("div", { class: "stat" },
    el("span", { class: "value", "data-testid": testId }, value),
    el("span", { class: "label" }, label));
}

/** A dashboard counter: the value, or "not available" when the platform marks the figure so. */
function counter(figure) {
  if (figure && typeof figure === "object" && figure.status && figure.status !== "available") return "not available";
  const value = typeof figure === "object" && figure !== null ? figure.count ?? figure.total : figure;
  return formatNumber(value);
}

// ---- charts -------------------------------------------------------------------------------------------

const charts = new Map();

/** Draws or updates the chart on canvas `id`; hides it when there is nothing to draw or no chart library. */
function chart(id, type, labels, datasets, options = {}) {
  const canvas = document.getElementById(id);
  const holder = canvas.parentElement;
  const Chart = globalThis.Chart;
  const empty = labels.length === 0 || !Chart;
  holder.classList.toggle("empty", empty);
  let existing = charts.get(id);
  if (empty) {
    return;
  }
  if (existing && existing.config.type !== type) {
    existing.destroy();
    existing = undefined;
  }
  if (existing) {
    existing.data.labels = labels;
    existing.data.datasets = datasets;
    existing.update("none");
    return;
  }
  charts.set(id, new Chart(canvas, {
    type,
    data: { labels, datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, ...options },
  }));
}

const palette = ["#3b6fd8", "#2e9e6a", "#d8843b", "#b3261e", "#8a55c7", "#5a6478", "#c7a255", "#2aa3b8"];

// ---- widgets ------------------------------------------------------------------------------------------

/** Counts: datasets, items (by type), annotations, members (by role), tasks. */
export function renderCounts(body, dashboard, tasks) {
  if (dashboard.state !== "ok") {
    fill(body, unavailable(dashboard, "Counters"));
    return;
  }
  const d = dashboard.data;
  const taskCount = tasks.state === "ok" ? formatNumber(tasks.items.length) + (tasks.truncated ? "+" : "") : "–";
  const roles = Object.entries(d.members?.byRole ?? {});
  const types = Object.entries(d.items?.byType ?? {});
  fill(body, 
    el("div", { class: "stats" },
      stat("datasets", counter(d.datasets), "count-datasets"),
      stat("items", counter(d.items?.total), "count-items"),
      stat("annotations", counter(d.annotations), "count-annotations"),
      stat("members", counter(d.members?.total), "count-members"),
      stat("tasks", taskCount, "count-tasks")),
    el("h3", {}, "Members by role"),
    table(
      [{ key: "role", title: "Role", value: (r) => r[0] }, { key: "count", title: "Members", num: true, value: (r) => r[1] }],
      roles, (r) => ({ "data-testid": `members-${r[0]}` })),
    el("h3", {}, "Items by type"),
    table(
      [{ key: "type", title: "Type", value: (r) => r[0] }, { key: "count", title: "Items", num: true, value: (r) => r[1] }],
      types, (r) => ({ "data-testid": `items-${r[0]}` })));
}

/**
 * Labeling status. The dashboard's project-wide figure when the platform computes it; until then the sum of
 * the tasks' own progress (items per status, and items without one), which the tasks routes report exactly.
 */
export function renderLabelingStatus(body, dashboard, tasks) {
  const fromDashboard = dashboard.state === "ok" && dashboard.data.labelingStatus?.status === "available";
  let rows;
  let source;
  if (fromDashboard) {
    const s = dashboard.data.labelingStatus;
    rows = [["In progress", s.inProgress], ["Completed", s.completed], ["Discarded", s.discarded], ["Reviewed", s.reviewed], ["Not reviewed", s.notReviewed]];
    source = "Project-wide, from the dashboard counters.";
  } else if (tasks.state === "ok") {
    const sums = new Map();
    const add = (name, n) => sums.set(name, (sums.get(name) ?? 0) + n);
    for (const { task, progress } of tasks.items) {
      if (!progress) continue;
      add(task.type === "qa" ? "Not reviewed" : "No status yet", progress.total - progress.done);
      for (const [status, n] of Object.entries(progress.byStatus ?? {})) add(status, n);
    }
    rows = [...sums.entries()].filter(([, n]) => n > 0);
    source = `Summed over ${tasks.items.length} task(s): items per status.`;
  } else {
    chart("labeling-chart", "doughnut", [], []);
    fill(body, unavailable(tasks, "Labeling status"));
    return;
  }

  chart("labeling-chart", "doughnut", rows.map((r) => r[0]),
    [{ data: rows.map((r) => r[1]), backgroundColor: rows.map((_, i) => palette[i % palette.length]) }],
    { plugins: { legend: { position: "right" } } });
  fill(body, 
    rows.length === 0 ? el("p", { class: "muted" }, "No task items yet.") :
      table(
        [{ key: "status", title: "Status", value: (r) => r[0] }, { key: "items", title: "Items", num: true, value: (r) => r[1] }],
        rows, (r) => ({ "data-testid": `status-${r[0]}` })),
    el("p", { class: "muted" }, source));
}

function progressCell(done, total, testId) {
  const text = `${formatNumber(done)} / ${formatNumber(total)}`;
  return el("span", {},
    el("progress", { max: Math.max(total, 1), value: done, "data-testid": testId }, text),
    " ",
    el("span", { class: "progress-text" }, text));
}

function dueCell(dueDate, state) {
  if (!dueDate) return el("span", { class: "muted" }, "none");
  const overdue = state !== "completed" && Date.parse(dueDate) < Date.now();
  return el("time", { datetime: dueDate, class: overdue ? "overdue" : undefined }, dueDate.slice(0, 10) + (overdue ? " (overdue)" : ""));
}

/** Tasks with progress bars and due dates. */
export function renderTasks(body, tasks, datasetNames) {
  if (tasks.state !== "ok") {
    fill(body, unavailable(tasks, "Tasks"));
    return;
  }
  if (tasks.items.length === 0) {
    fill(body, el("p", { class: "muted", "data-testid": "no-tasks" }, "No tasks in this project."));
    return;
  }
  fill(body, 
    table([
      { key: "name", title: "Task", value: (t) => t.task.name },
      { key: "type", title: "Type", value: (t) => t.task.type },
      { key: "dataset", title: "Dataset", value: (t) => datasetNames.get(t.task.datasetId) ?? t.task.datasetId },
      { key: "state", title: "State", value: (t) => t.task.state },
      { key: "progress", title: "Progress", value: (t) => (t.progress ? progressCell(t.progress.done, t.progress.total, "task-progress") : "–") },
      { key: "due", title: "Due", value: (t) => dueCell(t.task.dueDate, t.task.state) },
    ], tasks.items, (t) => ({ "data-testid": "task-row", "data-task-id": t.task.id })),
    tasks.truncated ? el("p", { class: "muted" }, "Showing the first tasks only.") : null);
}

/**
 * Open tasks per dataset: the dashboard's figure when it is available, otherwise counted from the task list
 * (tasks not completed). Datasets are the dashboard's list, so a dataset without tasks shows 0.
 */
export function renderOpenTasks(body, dashboard, tasks) {
  if (dashboard.state !== "ok") {
    fill(body, unavailable(dashboard, "Open tasks per dataset"));
    return;
  }
  const counted = new Map();
  if (tasks.state === "ok") {
    for (const { task } of tasks.items) {
      if (task.state !== "completed") counted.set(task.datasetId, (counted.get(task.datasetId) ?? 0) + 1);
    }
  }
  const open = (d) => {
    if (d.openTasks?.status === "available") return d.openTasks.count;
    return tasks.state === "ok" ? counted.get(d.datasetId) ?? 0 : "not available";
  };
  const rows = dashboard.data.perDataset ?? [];
  fill(body, rows.length === 0 ? el("p", { class: "muted" }, "No datasets yet.") :
    table([
      { key: "dataset", title: "Dataset", value: (d) => d.name },
      { key: "items", title: "Items", num: true, value: (d) => d.items },
      { key: "open", title: "Open tasks", num: true, value: open },
    ], rows, (d) => ({ "data-testid": "dataset-row", "data-dataset-id": d.datasetId })));
}

/** Throughput over time (analytics): submitted, approved, rejected and labels created per day. */
export function renderThroughput(body, throughput) {
  if (throughput.state !== "ok") {
    chart("throughput-chart", "line", [], []);
    fill(body, unavailable(throughput, "Throughput"));
    return;
  }
  const rows = throughput.data.rows ?? [];
  const series = [["submitted", "Submitted"], ["approved", "Approved"], ["rejected", "Rejected"], ["labelsCreated", "Labels created"]];
  chart("throughput-chart", "line", rows.map((r) => r.day),
    series.map(([key, label], i) => ({ label, data: rows.map((r) => r[key] ?? 0), borderColor: palette[i], backgroundColor: palette[i] })));
  fill(body, rows.length === 0 ? el("p", { class: "muted", "data-testid": "throughput-empty" }, "No activity in this period.") :
    el("p", { class: "muted", "data-testid": "throughput-total" },
      `${formatNumber(rows.reduce((n, r) => n + (r.submitted ?? 0), 0))} submitted over ${rows.length} day(s).`));
}

/** Rejection rate per label class (analytics). */
export function renderRejection(body, labels) {
  if (labels.state !== "ok") {
    chart("rejection-chart", "bar", [], []);
    fill(body, unavailable(labels, "Rejection rates"));
    return;
  }
  const rows = labels.data.rows ?? [];
  chart("rejection-chart", "bar", rows.map((r) => r.label),
    [{ label: "Rejection rate (%)", data: rows.map((r) => (r.rejectionRate ?? 0) * 100), backgroundColor: palette[3] }],
    { scales: { y: { beginAtZero: true, suggestedMax: 100 } } });
  fill(body, rows.length === 0 ? el("p", { class: "muted" }, "No labels reviewed yet.") :
    table([
      { key: "label", title: "Class", value: (r) => r.label },
      { key: "created", title: "Created", num: true, value: (r) => r.created },
      { key: "approved", title: "Approved", num: true, value: (r) => r.approved },
      { key: "rejected", title: "Rejected", num: true, value: (r) => r.rejected },
      { key: "rate", title: "Rejection rate", num: true, value: (r) => percent(r.rejectionRate) },
    ], rows, (r) => ({ "data-testid": "label-row", "data-label": r.label })));
}

/** Collaborator tables (analytics): annotators and reviewers. */
export function renderCollaborators(body, collaborators, summary) {
  if (collaborators.state !== "ok") {
    fill(body, unavailable(collaborators, "Collaborators"));
    return;
  }
  const { annotators = [], reviewers = [] } = collaborators.data;
  const s = summary.state === "ok" ? summary.data : null;
  fill(body, 
    s ? el("div", { class: "stats", "data-testid": "analytics-summary" },
      stat("submitted", formatNumber(s.submitted), "summary-submitted"),
      stat("skipped", formatNumber(s.skipped), "summary-skipped"),
      stat("approved", formatNumber(s.approved), "summary-approved"),
      stat("rejected", formatNumber(s.rejected), "summary-rejected"),
      stat("time spent", duration(s.timeSpentMs), "summary-time")) : null,
    el("h3", {}, "Annotators"),
    annotators.length === 0 ? el("p", { class: "muted" }, "None yet.") : table([
      { key: "user", title: "User", value: (r) => r.userId },
      { key: "submitted", title: "Submitted", num: true, value: (r) => r.submitted },
      { key: "skipped", title: "Skipped", num: true, value: (r) => r.skipped },
      { key: "approved", title: "Approved", num: true, value: (r) => r.approved },
      { key: "rejected", title: "Rejected", num: true, value: (r) => r.rejected },
      { key: "rate", title: "Rejection rate", num: true, value: (r) => percent(r.taskRejectionRate) },
      { key: "labels", title: "Labels created", num: true, value: (r) => r.labelsCreated },
      { key: "time", title: "Time spent", num: true, value: (r) => duration(r.timeSpentMs) },
      { key: "issues", title: "Issues against", num: true, value: (r) => r.issuesAgainst },
    ], annotators, (r) => ({ "data-testid": "annotator-row", "data-user-id": r.userId })),
    el("h3", {}, "Reviewers"),
    reviewers.length === 0 ? el("p", { class: "muted" }, "None yet.") : table([
      { key: "user", title: "User", value: (r) => r.userId },
      { key: "approved", title: "Approved", num: true, value: (r) => r.approved },
      { key: "rejected", title: "Rejected", num: true, value: (r) => r.rejected },
      { key: "labelsApproved", title: "Labels approved", num: true, value: (r) => r.labelsApproved },
      { key: "labelsRejected", title: "Labels rejected", num: true, value: (r) => r.labelsRejected },
      { key: "time", title: "Review time", num: true, value: (r) => duration(r.reviewTimeMs) },
      { key: "issues", title: "Issues raised", num: true, value: (r) => r.issuesRaised },
    ], reviewers, (r) => ({ "data-testid": "reviewer-row", "data-user-id": r.userId })));
}

/** Open issues (state open or for_review) over the project's QA tasks, plus the analytics total when present. */
export function renderIssues(body, issues, issueAnalytics, taskNames) {
  if (issues.state !== "ok") {
    fill(body, unavailable(issues, "Issues"));
    return;
  }
  const open = issues.items.filter((i) => i.state !== "resolved");
  fill(body, 
    el("div", { class: "stats" },
      stat("open issues", formatNumber(open.length), "open-issues-count"),
      stat("for review", formatNumber(open.filter((i) => i.state === "for_review").length), "for-review-count"),
      issueAnalytics.state === "ok" ? stat("open (analytics)", formatNumber(issueAnalytics.data.openNow), "issues-open-now") : null),
    open.length === 0 ? el("p", { class: "muted" }, "No open issues.") : table([
      { key: "task", title: "QA task", value: (i) => taskNames.get(i.qaTaskId) ?? i.qaTaskId },
      { key: "item", title: "Item", value: (i) => i.itemId },
      { key: "comment", title: "Comment", value: (i) => i.comment },
      { key: "tag", title: "Tag", value: (i) => i.tag ?? "–" },
      { key: "state", title: "State", value: (i) => i.state },
      { key: "annotator", title: "Annotator", value: (i) => i.annotator ?? "–" },
      { key: "opened", title: "Opened", value: (i) => i.createdAt?.slice(0, 16).replace("T", " ") },
    ], open, (i) => ({ "data-testid": "issue-row", "data-issue-id": i.id })),
    issues.truncated ? el("p", { class: "muted" }, "Showing the issues of the first QA tasks only.") : null);
}

/** Progress of an orchestration from its custom status, whichever shape the orchestrator reports. */
export function orchestrationProgress(custom) {
  if (!custom || typeof custom !== "object") return null;
  const p = custom.progress && typeof custom.progress === "object" ? custom.progress : custom;
  const pairs = [["itemsDone", "itemsTotal"], ["done", "total"], ["copied", "total"], ["completed", "total"]];
  for (const [done, total] of pairs) {
    if (typeof p[done] === "number" && typeof p[total] === "number") return { done: p[done], total: p[total], phase: custom.phase };
  }
  return custom.phase ? { phase: custom.phase } : null;
}

function kindOf(instanceId) {
  // Instance ids are {projectId}.{kind}.{key} (ProjectOrchestrations).
  const parts = instanceId.split(".");
  return parts.length >= 3 ? parts[1] : "";
}

/** Running orchestrations (exports, splits, copies, QA hand-offs, issue loops) with their progress. */
export function renderOrchestrations(body, orchestrations, exports) {
  if (orchestrations.state !== "ok") {
    fill(body, unavailable(orchestrations, "Orchestrations"));
    return;
  }
  const running = orchestrations.data.items ?? [];
  const runningExports = exports.state === "ok" ? (exports.data.items ?? []).filter((e) => e.state === "running") : [];
  fill(body, 
    running.length === 0 ? el("p", { class: "muted", "data-testid": "no-orchestrations" }, "Nothing running.") : table([
      { key: "kind", title: "Kind", value: (o) => kindOf(o.instanceId) },
      { key: "name", title: "Orchestrator", value: (o) => o.name },
      { key: "status", title: "Status", value: (o) => o.runtimeStatus },
      {
        key: "progress", title: "Progress", value: (o) => {
          const p = orchestrationProgress(o.customStatus);
          if (p?.total !== undefined) return progressCell(p.done, p.total, "orchestration-progress");
          return p?.phase ?? "–";
        },
      },
      { key: "started", title: "Started", value: (o) => o.createdTime?.slice(0, 19).replace("T", " ") },
    ], running, (o) => ({ "data-testid": "orchestration-row", "data-instance-id": o.instanceId })),
    runningExports.length === 0 ? null : el("h3", {}, "Exports in progress"),
    runningExports.length === 0 ? null : table([
      { key: "name", title: "Export", value: (e) => e.name ?? e.id },
      { key: "format", title: "Format", value: (e) => e.format },
      { key: "progress", title: "Progress", value: (e) => progressCell(e.progress?.itemsDone ?? 0, e.progress?.itemsTotal ?? 0, "export-progress") },
    ], runningExports, (e) => ({ "data-testid": "running-export-row", "data-export-id": e.id })));
}

/** Exports: state, size, and a download link for finished ones (signed URL fetched by the page). */
export function renderExports(body, exports, links) {
  if (exports.state !== "ok") {
    fill(body, unavailable(exports, "Exports"));
    return;
  }
  const items = exports.data.items ?? [];
  const download = (e) => {
    if (e.state === "failed") return el("span", { class: "error" }, e.error ?? "failed");
    if (e.state !== "done") return el("span", { class: "muted" }, "not ready");
    const link = links.get(e.id);
    return link?.url ? el("a", { href: link.url, rel: "noopener noreferrer", "data-testid": "export-download" }, "Download") :
      el("span", { class: "muted" }, link?.message ?? "link pending");
  };
  fill(body, items.length === 0 ? el("p", { class: "muted", "data-testid": "no-exports" }, "No exports yet.") :
    table([
      { key: "name", title: "Export", value: (e) => e.name ?? e.id },
      { key: "format", title: "Format", value: (e) => e.format },
      { key: "state", title: "State", value: (e) => e.state },
      { key: "size", title: "Size (bytes)", num: true, value: (e) => e.sizeBytes },
      { key: "created", title: "Created", value: (e) => e.createdAt?.slice(0, 16).replace("T", " ") },
      { key: "download", title: "Download", value: download },
    ], items, (e) => ({ "data-testid": "export-row", "data-export-id": e.id })));
}
