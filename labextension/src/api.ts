/**
 * Requests to hpmagic's server routes ({base_url}/hpmagic/...), through ServerConnection so the token and the
 * XSRF header are handled as for JupyterLab's own requests.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IStudySummary {
  id: number;
  name: string;
  state: string;
  direction: string;
  strategy: string;
  n_trials: number;
  n_complete: number;
  n_running: number;
  n_failed: number;
  n_planned: number | null;
  best_value: number | null;
  created_at: number;
  updated_at: number;
  control: string | null;
  /** The notebook the study was run from (relative to the server's root), when the kernel knew it. */
  notebook: string | null;
}

export interface IStore {
  path: string;
  error: string | null;
  studies: IStudySummary[];
}

export interface IStudiesAnswer {
  token: string;
  root: string;
  stores: IStore[];
}

export interface ITrialRow {
  number: number;
  state: string;
  params: { [name: string]: unknown };
  value: number | null;
  started_at: number | null;
  finished_at: number | null;
  error: string | null;
  test: number | null;
  budget: number | null;
  n_reports: number | null;
  has_output: boolean;
  /** How far the trial misses each of the study's constraints (0 when met); absent or null without constraints. */
  violations?: number[] | null;
}

export interface ITrialsAnswer {
  total: number;
  offset: number;
  rows: ITrialRow[];
}

export interface ITrialDetail extends ITrialRow {
  stdout: string;
  stderr: string;
  traceback: string | null;
  intermediate: [number, number][];
  user_attrs: { [key: string]: unknown };
}

export interface ISpaceEntry {
  name: string;
  kind: string;
}

export interface IStudyAnswer {
  store: string;
  id: number;
  name: string;
  state: string;
  direction: string;
  strategy: string;
  seed: number;
  source: string | null;
  options: { [key: string]: unknown };
  space: ISpaceEntry[];
  created_at: number;
  updated_at: number;
  summary: IStudySummary;
  best: ITrialRow | null;
  heldout_gap: number | null;
  notes: string[];
  control: string | null;
  marker: string;
}

export type Query = [string, string | number][];

/** An error answer of a route, with the server's message. */
export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

function routeUrl(route: string, query: Query = []): string {
  const settings = ServerConnection.makeSettings();
  const search = query
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return URLExt.join(settings.baseUrl, 'hpmagic', route) + (search ? `?${search}` : '');
}

async function send(route: string, query: Query, init: RequestInit = {}): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const response = await ServerConnection.makeRequest(routeUrl(route, query), init, settings);
  if (!response.ok) {
    let message = response.statusText;
    try {
      const data = await response.json();
      message = data.message || message;
    } catch {
      // not JSON: keep the status text
    }
    throw new APIError(message, response.status);
  }
  return response;
}

/** GET a JSON route. */
export async function getJSON<T>(route: string, query: Query = [], signal?: AbortSignal): Promise<T> {
  const response = await send(route, query, { signal });
  return (await response.json()) as T;
}

/** POST a JSON body to a write route (control, rename, delete). */
export async function postJSON<T>(route: string, body: unknown): Promise<T> {
  const response = await send(route, [], { method: 'POST', body: JSON.stringify(body) });
  return (await response.json()) as T;
}

/** GET an SVG route as an object URL for an <img> (where scripts never run); the caller revokes it. */
export async function getImageURL(route: string, query: Query): Promise<string> {
  const response = await send(route, query);
  const blob = new Blob([await response.arrayBuffer()], { type: 'image/svg+xml' });
  return URL.createObjectURL(blob);
}
