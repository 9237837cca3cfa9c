// The platform's HTTP API as the page uses it: the API key travels in the Authorization header the API
// expects ("Bearer <key>"), and every answer is sorted into what the widgets need to know.

/** Thrown when the key is missing, unknown or revoked (401): the page signs out. */
export class SignedOutError extends Error {}

/**
 * GET a JSON resource. Resolves to one of
 *   { state: "ok", data }            the route answered 2xx with JSON,
 *   { state: "missing" }             404: the route (or the thing) does not exist on this platform,
 *   { state: "forbidden" }           403: the caller's role may not read it,
 *   { state: "error", message }      anything else, with the problem details' title or detail.
 */
export async function getJson(apiKey, path, { signal } = {}) {
  let response;
  try {
    response = await fetch(path, {
      headers: { Authorization: `Bearer ${apiKey}`, Accept: "application/json" },
      cache: "no-store",
      redirect: "manual",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    return { state: "error", message: `network error: ${error.message}` };
  }

  if (response.status === 401) throw new SignedOutError("The API key is unknown or has been revoked.");
  if (response.status === 404) return { state: "missing" };
  if (response.status === 403) return { state: "forbidden" };
  if (response.type === "opaqueredirect") return { state: "redirect" };
  if (!response.ok) return { state: "error", message: await problemText(response) };
  try {
    return { state: "ok", data: await response.json() };
  } catch {
    return { state: "error", message: `${path} did not answer JSON` };
  }
}

async function problemText(response) {
  try {
    const problem = await response.json();
    return `${response.status} ${problem.title ?? ""}${problem.detail ? `: ${problem.detail}` : ""}`.trim();
  } catch {
    return `${response.status} ${response.statusText}`.trim();
  }
}

/** Runs at most `limit` of the async `work` items at once, keeping their order in the result. */
export async function mapLimited(values, limit, work) {
  const results = new Array(values.length);
  let next = 0;
  async function lane() {
    while (next < values.length) {
      const index = next++;
      results[index] = await work(values[index], index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, values.length) }, lane));
  return results;
}
