/**
 * The "Studies" sidebar panel: every study of every store under the server's root, live.
 *
 * It long-polls GET hpmagic/studies with the last token: the server answers as soon as any store changes (within
 * about half a second) or after the timeout, so an idle panel costs one small request every few tens of seconds.
 */
import { showErrorMessage } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { getJSON, IStudiesAnswer, IStudySummary, postJSON } from './api';
import { fmtAgo, fmtValue, h, replaceChildren } from './dom';

export interface IStudyRef {
  store: string;
  id: number;
  name: string;
}

export interface IPanelOptions {
  trans: TranslationBundle;
  open: (ref: IStudyRef) => void;
  compare: (refs: IStudyRef[]) => void;
}

export interface IPanelSettings {
  extraStores: string[];
  pollTimeout: number;
  minRefreshInterval: number;
}

interface IRow extends IStudySummary {
  store: string;
}

type Column = 'name' | 'store' | 'strategy' | 'state' | 'trials' | 'best' | 'updated';


/** The sidebar widget. */
export class StudiesPanel extends Widget {
  constructor(options: IPanelOptions) {
    super();
    this._options = options;
    const trans = options.trans;
    this.addClass('jp-hpmagic-StudiesPanel');
    this.title.caption = trans.__('hpmagic studies');

    this._filter = h('input', {
      class: 'jp-hpmagic-filter jp-mod-styled',
      type: 'search',
      placeholder: trans.__('Filter studies'),
      'aria-label': trans.__('Filter studies')
    });
    this._filter.addEventListener('input', () => this._render());
    this._compareButton = h(
      'button',
      { class: 'jp-hpmagic-button jp-mod-styled', type: 'button', disabled: true },
      trans.__('Compare')
    );
    this._compareButton.addEventListener('click', () => {
      const refs = this._rowsShown().filter(r => this._selected.has(key(r)));
      if (refs.length) {
        this._options.compare(refs.map(r => ({ store: r.store, id: r.id, name: r.name })));
      }
    });
    this._status = h('div', { class: 'jp-hpmagic-status', role: 'status' });
    this._table = h('table', { class: 'jp-hpmagic-table jp-hpmagic-studies' });
    this.node.appendChild(
      h(
        'div',
        { class: 'jp-hpmagic-panelHeader' },
        h('h2', { class: 'jp-hpmagic-title' }, trans.__('Studies')),
        h('div', { class: 'jp-hpmagic-toolbar' }, this._filter, this._compareButton)
      )
    );
    this.node.appendChild(h('div', { class: 'jp-hpmagic-tableWrap' }, this._table));
    this.node.appendChild(this._status);
  }

  /** Settings from the settings editor: extra stores, long-poll timeout, refresh floor. */
  configure(settings: IPanelSettings): void {
    this._settings = settings;
    this._token = null; // ask again at once with the new extra stores
    this._abort?.abort();
  }

  /** Start the live loop (idempotent); it runs while the panel is attached. */
  start(): void {
    if (this._running) {
      return;
    }
    this._running = true;
    void this._loop();
  }

  dispose(): void {
    this._running = false;
    this._abort?.abort();
    super.dispose();
  }

  /** Refresh now (the next answer comes at once). */
  refresh(): void {
    this._token = null;
    this._abort?.abort();
  }

  /** How many refreshes (answers applied) so far: read by the benchmark and tests. */
  get refreshCount(): number {
    return this._refreshes;
  }

  private async _loop(): Promise<void> {
    while (this._running && !this.isDisposed) {
      const began = Date.now();
      this._abort = new AbortController();
      const query: [string, string | number][] = [['timeout', this._token ? this._settings.pollTimeout : 0]];
      if (this._token) {
        query.push(['since', this._token]);
      }
      for (const store of this._settings.extraStores) {
        query.push(['store', store]);
      }
      try {
        const answer = await getJSON<IStudiesAnswer>('studies', query, this._abort.signal);
        if (answer.token !== this._token) {
          this._token = answer.token;
          this._apply(answer);
        }
        this._failures = 0;
      } catch (error) {
        if (!this._running) {
          return;
        }
        if ((error as Error).name !== 'AbortError') {
          this._failures++;
          this._status.textContent = this._options.trans.__('Cannot reach the server: %1', String(error));
          await sleep(Math.min(10000, 500 * 2 ** this._failures));
        }
      }
      const floor = this._settings.minRefreshInterval - (Date.now() - began);
      if (floor > 0) {
        await sleep(floor);
      }
    }
  }

  private _apply(answer: IStudiesAnswer): void {
    const t0 = performance.now();
    this._rows = [];
    this._errors = [];
    for (const store of answer.stores) {
      if (store.error) {
        this._errors.push({ store: store.path, error: store.error });
      }
      for (const s of store.studies) {
        this._rows.push({ ...s, store: store.path });
      }
    }
    this._render();
    this._refreshes++;
    this._lastRenderMs = performance.now() - t0;
    this.node.dataset.refreshes = String(this._refreshes);
    this.node.dataset.renderMs = this._lastRenderMs.toFixed(2);
  }

  private _rowsShown(): IRow[] {
    const needle = this._filter.value.trim().toLowerCase();
    const rows = this._rows.filter(
      r =>
        !needle ||
        [r.name, r.store, r.notebook ?? '', r.strategy, r.state].some(text => text.toLowerCase().includes(needle))
    );
    const dir = this._descending ? -1 : 1;
    const value = (r: IRow): string | number => {
      switch (this._sort) {
        case 'name':
          return r.name.toLowerCase();
        case 'store':
          return (r.notebook ?? r.store).toLowerCase();
        case 'strategy':
          return r.strategy;
        case 'state':
          return r.state;
        case 'trials':
          return r.n_trials;
        case 'best':
          return r.best_value === null ? Number.POSITIVE_INFINITY * dir : r.best_value;
        default:
          return r.updated_at;
      }
    };
    return rows.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      return (va < vb ? -1 : va > vb ? 1 : 0) * dir;
    });
  }

  private _render(): void {
    const trans = this._options.trans;
    const labels: { [c in Column]: string } = {
      name: trans.__('Study'),
      store: trans.__('Notebook / store'),
      strategy: trans.__('Strategy'),
      state: trans.__('State'),
      trials: trans.__('Trials'),
      best: trans.__('Best'),
      updated: trans.__('Updated')
    };
    // Three columns fit a sidebar: each header holds the sort buttons of the values its cells show.
    const groups: Column[][] = [
      ['name', 'store', 'strategy'],
      ['state', 'trials'],
      ['best', 'updated']
    ];
    const head = h('tr', {}, h('th', { class: 'jp-hpmagic-check' }));
    for (const group of groups) {
      const th = h('th', {});
      group.forEach((column, i) => {
        const sorted = this._sort === column;
        const button = h(
          'button',
          {
            class: 'jp-hpmagic-sort' + (i ? ' jp-hpmagic-sortMinor' : ''),
            type: 'button',
            'data-column': column,
            'aria-pressed': sorted
          },
          labels[column],
          sorted ? (this._descending ? ' ▼' : ' ▲') : ''
        );
        button.title = trans.__('Sort by %1', labels[column]);
        button.addEventListener('click', () => {
          this._descending = this._sort === column ? !this._descending : column === 'updated';
          this._sort = column;
          this._render();
        });
        th.appendChild(button);
      });
      head.appendChild(th);
    }
    const body = h('tbody');
    const now = Date.now() / 1000;
    for (const r of this._rowsShown()) {
      body.appendChild(this._row(r, now));
    }
    for (const e of this._errors) {
      body.appendChild(
        h(
          'tr',
          { class: 'jp-hpmagic-errorRow', 'data-store': e.store },
          h('td'),
          h('td', { colspan: 3 }, h('strong', {}, e.store), ': ', e.error)
        )
      );
    }
    const columns = h(
      'colgroup',
      {},
      h('col', { class: 'jp-hpmagic-colCheck' }),
      h('col', { class: 'jp-hpmagic-colName' }),
      h('col', { class: 'jp-hpmagic-colState' }),
      h('col', { class: 'jp-hpmagic-colBest' })
    );
    replaceChildren(this._table, columns, h('thead', {}, head), body);
    const selected = this._rows.filter(r => this._selected.has(key(r))).length;
    this._compareButton.disabled = selected < 1;
    this._compareButton.textContent = selected ? trans.__('Compare (%1)', selected) : trans.__('Compare');
    this._status.textContent = this._rows.length
      ? trans._n('%1 study', '%1 studies', this._rows.length)
      : this._errors.length
        ? ''
        : trans.__('No hpmagic.db study store under the server root yet: run a %%tune cell.');
  }

  private _row(r: IRow, now: number): HTMLTableRowElement {
    const trans = this._options.trans;
    const live = r.state === 'running';
    const total = r.n_planned ? `${r.n_complete}/${r.n_planned}` : `${r.n_complete}`;
    const origin = r.notebook ?? r.store;
    const originTitle = r.notebook ? trans.__('notebook %1, store %2', r.notebook, r.store) : r.store;
    const stateText = r.control && live ? `${r.state} (${r.control})` : r.state;
    const best = fmtValue(r.best_value) + (r.best_value !== null ? (r.direction === 'maximize' ? ' ↑' : ' ↓') : '');
    const check = h('input', {
      type: 'checkbox',
      'aria-label': trans.__('Select %1 to compare', r.name),
      checked: this._selected.has(key(r))
    });
    check.addEventListener('click', event => event.stopPropagation());
    check.addEventListener('change', () => {
      if (check.checked) {
        this._selected.add(key(r));
      } else {
        this._selected.delete(key(r));
      }
      this._render();
    });
    const actions = h('div', { class: 'jp-hpmagic-actions' });
    if (live) {
      const paused = r.control === 'pause';
      actions.appendChild(this._action(r, 'stop', trans.__('Stop'), r.control === 'stop'));
      actions.appendChild(
        this._action(r, paused ? 'resume' : 'pause', paused ? trans.__('Resume') : trans.__('Pause'), false)
      );
    }
    const row = h(
      'tr',
      {
        class: 'jp-hpmagic-studyRow',
        tabindex: 0,
        'data-store': r.store,
        'data-study': r.name,
        'data-state': r.state,
        'aria-label': trans.__('Study %1: %2, %3 trials, best %4', r.name, stateText, total, best)
      },
      h('td', { class: 'jp-hpmagic-check' }, check),
      h(
        'td',
        { class: 'jp-hpmagic-nameCell' },
        h('div', { class: 'jp-hpmagic-name', title: r.name }, r.name),
        h(
          'div',
          { class: 'jp-hpmagic-minor', title: `${originTitle} · ${r.strategy}` },
          h('span', { class: r.notebook ? 'jp-hpmagic-notebook' : 'jp-hpmagic-store' }, origin),
          ' · ',
          h('span', { class: 'jp-hpmagic-strategy' }, r.strategy)
        )
      ),
      h(
        'td',
        {},
        h(
          'div',
          { class: `jp-hpmagic-state jp-hpmagic-state-${r.state}`, title: stateText },
          live ? h('span', { class: 'jp-hpmagic-live', title: trans.__('running now') }) : null,
          stateText
        ),
        h(
          'div',
          { class: 'jp-hpmagic-minor', title: trans.__('%1 trials done', total) },
          h('span', { class: 'jp-hpmagic-trials' }, total, r.n_failed ? ` (${r.n_failed}✗)` : '')
        ),
        actions
      ),
      h(
        'td',
        {},
        h('div', { class: 'jp-hpmagic-best', title: best }, best),
        h(
          'div',
          { class: 'jp-hpmagic-minor jp-hpmagic-updated', title: new Date(r.updated_at * 1000).toLocaleString() },
          fmtAgo(r.updated_at, now)
        )
      )
    );
    const open = () => this._options.open({ store: r.store, id: r.id, name: r.name });
    row.addEventListener('click', open);
    row.addEventListener('keydown', (event: KeyboardEvent) => {
      if (event.key === 'Enter' && event.target === row) {
        open();
      }
    });
    return row;
  }

  private _action(r: IRow, action: string, label: string, pending: boolean): HTMLButtonElement {
    const button = h(
      'button',
      {
        class: `jp-hpmagic-button jp-mod-styled jp-hpmagic-${action}`,
        type: 'button',
        disabled: pending,
        title: label
      },
      label
    );
    button.addEventListener('click', async event => {
      event.stopPropagation();
      button.disabled = true;
      try {
        await postJSON('control', { store: r.store, id: r.id, action });
      } catch (error) {
        await showErrorMessage(this._options.trans.__('hpmagic'), error as Error);
      }
    });
    return button;
  }

  private _options: IPanelOptions;
  private _settings: IPanelSettings = { extraStores: [], pollTimeout: 20, minRefreshInterval: 250 };
  private _filter: HTMLInputElement;
  private _compareButton: HTMLButtonElement;
  private _status: HTMLDivElement;
  private _table: HTMLTableElement;
  private _rows: IRow[] = [];
  private _errors: { store: string; error: string }[] = [];
  private _selected = new Set<string>();
  private _sort: Column = 'updated';
  private _descending = true;
  private _token: string | null = null;
  private _abort: AbortController | null = null;
  private _running = false;
  private _failures = 0;
  private _refreshes = 0;
  private _lastRenderMs = 0;
}

function key(r: { store: string; id: number }): string {
  return `${r.store}::${r.id}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}
