/**
 * A study's page in the main area: header and progress, actions, plots (SVG drawn on the server by hpmagic.plot),
 * the trials table (sorted and paged by the server, so 10,000 trials stay fast), a trial's output on demand, the
 * cell source and notes. It long-polls GET hpmagic/study with the last marker and redraws when the study changes.
 */
import { Clipboard, Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { getImageURL, getJSON, ITrialDetail, ITrialsAnswer, IStudyAnswer, postJSON } from './api';
import { fmtAgo, fmtValue, h, pyLiteral, relativePath, replaceChildren } from './dom';
import { IStudyRef } from './panel';

export interface IStudyPageOptions {
  ref: IStudyRef;
  trans: TranslationBundle;
  insert: (text: string) => boolean;
  /** The folder (relative to the server's root) of the notebook "Insert" writes to, where its kernel runs. */
  notebookDir: () => string | null;
  pageSize: number;
  pollTimeout: number;
  onGone: () => void;
}

const PLOT_KINDS = ['convergence', 'parallel', 'scatter', 'curves'] as const;
type PlotKind = (typeof PLOT_KINDS)[number];
const MIN_PLOT_INTERVAL = 1500; // ms between redraws of a plot while the study runs

export class StudyPage extends Widget {
  constructor(options: IStudyPageOptions) {
    super();
    this._options = options;
    this.ref = { ...options.ref };
    this.id = `hpmagic-study-${encodeURIComponent(options.ref.store)}-${options.ref.id}`;
    this.addClass('jp-hpmagic-StudyPage');
    this.title.label = options.ref.name;
    this.title.closable = true;
    const trans = options.trans;

    this._header = h('div', { class: 'jp-hpmagic-header' });
    this._actions = h('div', { class: 'jp-hpmagic-toolbar jp-hpmagic-studyActions' });
    this._plotTabs = h('div', { class: 'jp-hpmagic-tabs', role: 'tablist' });
    this._paramSelect = h('select', { class: 'jp-mod-styled', 'aria-label': trans.__('Parameter') });
    this._paramSelect.addEventListener('change', () => void this._drawPlot(true));
    this._plot = h('img', { class: 'jp-hpmagic-plot', alt: trans.__('plot of the study') });
    this._plotNote = h('div', { class: 'jp-hpmagic-note' });
    this._table = h('table', { class: 'jp-hpmagic-table jp-hpmagic-trials' });
    this._pager = h('div', { class: 'jp-hpmagic-pager' });
    this._detail = h('div', { class: 'jp-hpmagic-detail' });
    this._source = h('pre', { class: 'jp-hpmagic-source' });
    this._notes = h('div', { class: 'jp-hpmagic-notes' });

    for (const kind of PLOT_KINDS) {
      const label = {
        convergence: trans.__('Convergence'),
        parallel: trans.__('Parallel coordinates'),
        scatter: trans.__('Parameter vs objective'),
        curves: trans.__('Learning curves')
      }[kind];
      const tab = h('button', { class: 'jp-hpmagic-tab', type: 'button', role: 'tab', 'data-kind': kind }, label);
      tab.addEventListener('click', () => {
        this._plotKind = kind;
        void this._drawPlot(true);
      });
      this._plotTabs.appendChild(tab);
    }

    this.node.appendChild(this._header);
    this.node.appendChild(this._actions);
    this.node.appendChild(
      h(
        'section',
        { class: 'jp-hpmagic-section' },
        h('div', { class: 'jp-hpmagic-plotBar' }, this._plotTabs, this._paramSelect),
        this._plot,
        this._plotNote
      )
    );
    this.node.appendChild(
      h(
        'section',
        { class: 'jp-hpmagic-section' },
        h('h3', {}, trans.__('Trials')),
        h('div', { class: 'jp-hpmagic-tableWrap' }, this._table),
        this._pager,
        this._detail
      )
    );
    this.node.appendChild(
      h('section', { class: 'jp-hpmagic-section' }, h('h3', {}, trans.__('Cell source')), this._source, this._notes)
    );
  }

  readonly ref: IStudyRef;

  /** Start the live loop. */
  start(): void {
    if (!this._running) {
      this._running = true;
      void this._loop();
    }
  }

  dispose(): void {
    this._running = false;
    this._abort?.abort();
    if (this._plotURL) {
      URL.revokeObjectURL(this._plotURL);
    }
    super.dispose();
  }

  private async _loop(): Promise<void> {
    while (this._running && !this.isDisposed) {
      this._abort = new AbortController();
      const query: [string, string | number][] = [
        ['store', this.ref.store],
        ['id', this.ref.id]
      ];
      if (this._study) {
        query.push(['since', this._study.marker], ['timeout', this._options.pollTimeout]);
      }
      try {
        const study = await getJSON<IStudyAnswer>('study', query, this._abort.signal);
        if (!this._study || study.marker !== this._study.marker) {
          this._study = study;
          await this._apply();
        }
        this._failures = 0;
      } catch (error) {
        if (!this._running) {
          return;
        }
        const status = (error as { status?: number }).status;
        if (status === 404) {
          this._running = false;
          this._options.onGone();
          return;
        }
        this._failures++;
        replaceChildren(this._header, h('div', { class: 'jp-hpmagic-error' }, String(error)));
        await sleep(Math.min(10000, 500 * 2 ** this._failures));
      }
    }
  }

  private async _apply(): Promise<void> {
    const s = this._study!;
    this.title.label = s.name;
    this.ref.name = s.name;
    this._renderHeader();
    this._renderActions();
    if (this._paramSelect.options.length !== s.space.length) {
      replaceChildren(this._paramSelect, ...s.space.map(d => h('option', { value: d.name }, d.name)));
    }
    const source = s.source ?? this._options.trans.__('(a study run from Python, not from a cell)');
    if (this._source.textContent !== source) {
      this._source.textContent = source;
    }
    replaceChildren(this._notes, ...s.notes.map(n => h('p', { class: 'jp-hpmagic-note' }, n)));
    await Promise.all([this._loadTrials(), this._drawPlot(false)]);
  }

  private _renderHeader(): void {
    const s = this._study!;
    const trans = this._options.trans;
    const sum = s.summary;
    const planned = sum.n_planned;
    const progress = h('progress', {
      class: 'jp-hpmagic-progress',
      max: planned || Math.max(1, sum.n_trials),
      value: sum.n_complete + sum.n_failed
    });
    const facts: [string, string][] = [
      [trans.__('State'), s.control && s.state === 'running' ? `${s.state} (${s.control})` : s.state],
      [trans.__('Strategy'), s.strategy],
      [trans.__('Direction'), s.direction],
      [
        trans.__('Trials'),
        planned
          ? trans.__('%1 of %2 done', sum.n_complete + sum.n_failed, planned)
          : trans.__('%1 done', sum.n_complete + sum.n_failed)
      ],
      [trans.__('Failed'), String(sum.n_failed)],
      [trans.__('Best value'), fmtValue(sum.best_value)],
      ...(sum.notebook ? ([[trans.__('Notebook'), sum.notebook]] as [string, string][]) : []),
      [trans.__('Store'), s.store],
      [trans.__('Updated'), trans.__('%1 ago', fmtAgo(s.updated_at))]
    ];
    if (s.heldout_gap !== null) {
      facts.push([trans.__('Held-out gap (test − value)'), fmtValue(s.heldout_gap)]);
    }
    const best = s.best
      ? h(
          'div',
          { class: 'jp-hpmagic-best' },
          h('span', { class: 'jp-hpmagic-label' }, trans.__('Best trial #%1:', s.best.number)),
          ' ',
          Object.entries(s.best.params)
            .map(([k, v]) => `${k} = ${fmtValue(v)}`)
            .join(', ')
        )
      : null;
    replaceChildren(
      this._header,
      h(
        'h2',
        { class: 'jp-hpmagic-studyName' },
        s.state === 'running' ? h('span', { class: 'jp-hpmagic-live', title: trans.__('running now') }) : null,
        s.name
      ),
      progress,
      h('dl', { class: 'jp-hpmagic-facts' }, ...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      best
    );
  }

  private _renderActions(): void {
    const s = this._study!;
    const trans = this._options.trans;
    const buttons: HTMLButtonElement[] = [];
    const add = (cls: string, label: string, run: () => Promise<void> | void, disabled = false) => {
      const b = h('button', { class: `jp-hpmagic-button jp-mod-styled ${cls}`, type: 'button', disabled }, label);
      b.addEventListener('click', async () => {
        try {
          await run();
        } catch (error) {
          await showErrorMessage(trans.__('hpmagic'), error as Error);
        }
      });
      buttons.push(b);
    };
    if (s.state === 'running') {
      add('jp-hpmagic-stop', trans.__('Stop'), () => this._control('stop'), s.control === 'stop');
      if (s.control === 'pause') {
        add('jp-hpmagic-resume', trans.__('Resume'), () => this._control('resume'));
      } else {
        add('jp-hpmagic-pause', trans.__('Pause'), () => this._control('pause'));
      }
    }
    add('jp-hpmagic-copy', trans.__('Copy best parameters'), () => this._copyBest(), !s.best);
    add('jp-hpmagic-insert-show', trans.__('Insert %tune_show'), () => this._insert(this._showLine()));
    add('jp-hpmagic-insert-best', trans.__('Insert best as code'), () => this._insert(this._assignments()), !s.best);
    add('jp-hpmagic-rename', trans.__('Rename…'), () => this._rename());
    add('jp-hpmagic-delete', trans.__('Delete…'), () => this._delete(), s.state === 'running');
    replaceChildren(this._actions, ...buttons);
  }

  private async _control(action: string): Promise<void> {
    await postJSON('control', { store: this.ref.store, id: this.ref.id, action });
  }

  private _assignments(): string {
    const best = this._study!.best!;
    return Object.entries(best.params)
      .map(([k, v]) => `${/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : `# ${k}`} = ${pyLiteral(v)}`)
      .join('\n');
  }

  private _showLine(): string {
    const s = this._study!;
    const name = /^[\w.-]+$/.test(s.name) ? s.name : JSON.stringify(s.name);
    // The kernel runs in the notebook's folder: name the store from there (the default store needs no option).
    const path = relativePath(this._options.notebookDir() ?? '', s.store);
    const store = path === 'hpmagic.db' ? '' : ` --storage ${JSON.stringify(path)}`;
    return `%tune_show${store} ${name}`;
  }

  private _copyBest(): void {
    Clipboard.copyToSystem(JSON.stringify(this._study!.best!.params, null, 2));
  }

  private _insert(text: string): void {
    if (!this._options.insert(text)) {
      void showErrorMessage(this._options.trans.__('hpmagic'), this._options.trans.__('Open a notebook first.'));
    }
  }

  private async _rename(): Promise<void> {
    const trans = this._options.trans;
    const input = h('input', { class: 'jp-mod-styled', value: this._study!.name, 'aria-label': trans.__('New name') });
    const body = new Widget({ node: h('div', {}, input) });
    const result = await showDialog({
      title: trans.__('Rename study'),
      body,
      buttons: [Dialog.cancelButton({ label: trans.__('Cancel') }), Dialog.okButton({ label: trans.__('Rename') })],
      focusNodeSelector: 'input'
    });
    if (result.button.accept && input.value.trim() && input.value.trim() !== this._study!.name) {
      await postJSON('rename', { store: this.ref.store, id: this.ref.id, name: input.value.trim() });
    }
  }

  private async _delete(): Promise<void> {
    const trans = this._options.trans;
    const result = await showDialog({
      title: trans.__('Delete study'),
      body: trans.__('Delete the study "%1" and its %2 trials from %3? This cannot be undone.', this._study!.name, this._study!.summary.n_trials, this.ref.store),
      buttons: [Dialog.cancelButton({ label: trans.__('Cancel') }), Dialog.warnButton({ label: trans.__('Delete') })]
    });
    if (result.button.accept) {
      await postJSON('delete', { store: this.ref.store, id: this.ref.id });
      this.dispose();
    }
  }

  private async _loadTrials(): Promise<void> {
    const trans = this._options.trans;
    const s = this._study!;
    const size = this._options.pageSize;
    const answer = await getJSON<ITrialsAnswer>('trials', [
      ['store', this.ref.store],
      ['id', this.ref.id],
      ['sort', this._sort],
      ['order', this._descending ? 'desc' : 'asc'],
      ['offset', this._page * size],
      ['limit', size]
    ]);
    const params = s.space.map(d => d.name);
    for (const row of answer.rows) {
      for (const name of Object.keys(row.params)) {
        if (!params.includes(name)) {
          params.push(name);
        }
      }
    }
    const hasTest = answer.rows.some(r => r.test !== null);
    const columns: [string, string][] = [
      ['number', '#'],
      ['state', trans.__('state')],
      ['value', trans.__('value')],
      ...(hasTest ? ([['test', trans.__('test')]] as [string, string][]) : []),
      ...params.map(p => [`param:${p}`, p] as [string, string]),
      ['duration', trans.__('duration')]
    ];
    const head = h('tr');
    for (const [key, label] of columns) {
      const sorted = this._sort === key;
      const b = h('button', { class: 'jp-hpmagic-sort', type: 'button', 'data-column': key }, label, sorted ? (this._descending ? ' ▼' : ' ▲') : '');
      b.addEventListener('click', () => {
        this._descending = this._sort === key ? !this._descending : false;
        this._sort = key;
        this._page = 0;
        void this._loadTrials();
      });
      head.appendChild(h('th', { 'aria-sort': sorted ? (this._descending ? 'descending' : 'ascending') : undefined }, b));
    }
    head.appendChild(h('th', {}, ''));
    const body = h('tbody');
    for (const r of answer.rows) {
      const duration = r.finished_at && r.started_at ? `${(r.finished_at - r.started_at).toFixed(2)} s` : '';
      // A complete trial that misses a constraint: greyed, and its value cell says by how much (never the best).
      const missed = r.state === 'complete' ? (r.violations ?? []).filter(v => v > 0) : [];
      const infeasible = missed.length > 0;
      const cells = [
        h('td', {}, String(r.number)),
        h('td', { class: `jp-hpmagic-state-${r.state}` }, infeasible ? `${r.state} ✗` : r.state),
        h(
          'td',
          {
            title: infeasible
              ? trans.__('infeasible: misses %1 constraint(s), by %2 in all', missed.length, fmtValue(missed.reduce((a, b) => a + b, 0)))
              : (r.error ?? '')
          },
          fmtValue(r.value)
        ),
        hasTest ? h('td', {}, fmtValue(r.test)) : null,
        ...params.map(p => h('td', {}, p in r.params ? fmtValue(r.params[p]) : '')),
        h('td', {}, duration)
      ];
      const more = h('button', { class: 'jp-hpmagic-link', type: 'button' }, trans.__('output'));
      more.addEventListener('click', () => void this._showDetail(r.number));
      body.appendChild(
        h('tr', { 'data-number': r.number, class: infeasible ? 'jp-hpmagic-infeasible' : undefined }, ...cells, h('td', {}, more))
      );
    }
    replaceChildren(this._table, h('thead', {}, head), body);
    const pages = Math.max(1, Math.ceil(answer.total / size));
    const prev = h('button', { class: 'jp-hpmagic-button jp-mod-styled', type: 'button', disabled: this._page === 0 }, trans.__('Previous'));
    const next = h('button', { class: 'jp-hpmagic-button jp-mod-styled', type: 'button', disabled: this._page >= pages - 1 }, trans.__('Next'));
    prev.addEventListener('click', () => {
      this._page = Math.max(0, this._page - 1);
      void this._loadTrials();
    });
    next.addEventListener('click', () => {
      this._page = Math.min(pages - 1, this._page + 1);
      void this._loadTrials();
    });
    replaceChildren(
      this._pager,
      prev,
      h('span', { class: 'jp-hpmagic-pageInfo' }, trans.__('Page %1 of %2 (%3 trials)', this._page + 1, pages, answer.total)),
      next
    );
  }

  private async _showDetail(number: number): Promise<void> {
    const trans = this._options.trans;
    const d = await getJSON<ITrialDetail>('trial', [
      ['store', this.ref.store],
      ['id', this.ref.id],
      ['number', number]
    ]);
    const close = h('button', { class: 'jp-hpmagic-button jp-mod-styled', type: 'button' }, trans.__('Close'));
    close.addEventListener('click', () => replaceChildren(this._detail));
    const reports = d.intermediate.length
      ? d.intermediate.map(([step, v]) => `${step}: ${fmtValue(v)}`).join('   ')
      : trans.__('none');
    replaceChildren(
      this._detail,
      h('h4', {}, trans.__('Trial %1 (%2)', d.number, d.state), ' ', close),
      h('div', {}, h('span', { class: 'jp-hpmagic-label' }, trans.__('Reported values: ')), reports),
      h('div', {}, h('span', { class: 'jp-hpmagic-label' }, trans.__('Parameters: ')), JSON.stringify(d.params)),
      d.error ? h('div', { class: 'jp-hpmagic-error' }, d.error) : null,
      h('h5', {}, trans.__('Output')),
      h('pre', { class: 'jp-hpmagic-output' }, (d.stdout || '') + (d.stderr || '') || trans.__('(no output)')),
      d.traceback ? h('h5', {}, trans.__('Traceback')) : null,
      d.traceback ? h('pre', { class: 'jp-hpmagic-output jp-hpmagic-traceback' }, d.traceback) : null
    );
  }

  private async _drawPlot(force: boolean): Promise<void> {
    const now = Date.now();
    if (!force && now - this._plotDrawnAt < MIN_PLOT_INTERVAL) {
      // Drawn a moment ago: draw once more when the interval is over, so the last state is always shown.
      if (!this._plotPending) {
        this._plotPending = true;
        setTimeout(() => {
          this._plotPending = false;
          void this._drawPlot(true);
        }, MIN_PLOT_INTERVAL);
      }
      return;
    }
    this._plotDrawnAt = now;
    for (const tab of Array.from(this._plotTabs.children)) {
      tab.classList.toggle('jp-mod-active', (tab as HTMLElement).dataset.kind === this._plotKind);
      tab.setAttribute('aria-selected', String((tab as HTMLElement).dataset.kind === this._plotKind));
    }
    this._paramSelect.style.display = this._plotKind === 'scatter' ? '' : 'none';
    const query: [string, string | number][] = [
      ['store', this.ref.store],
      ['id', this.ref.id],
      ['kind', this._plotKind]
    ];
    if (this._plotKind === 'scatter' && this._paramSelect.value) {
      query.push(['param', this._paramSelect.value]);
    }
    try {
      const url = await getImageURL('plot', query);
      if (this._plotURL) {
        URL.revokeObjectURL(this._plotURL);
      }
      this._plotURL = url;
      this._plot.src = url;
      this._plotNote.textContent = '';
    } catch (error) {
      this._plotNote.textContent = String(error);
    }
  }

  private _options: IStudyPageOptions;
  private _study: IStudyAnswer | null = null;
  private _header: HTMLDivElement;
  private _actions: HTMLDivElement;
  private _plotTabs: HTMLDivElement;
  private _paramSelect: HTMLSelectElement;
  private _plot: HTMLImageElement;
  private _plotNote: HTMLDivElement;
  private _plotKind: PlotKind = 'convergence';
  private _plotURL: string | null = null;
  private _plotDrawnAt = 0;
  private _plotPending = false;
  private _table: HTMLTableElement;
  private _pager: HTMLDivElement;
  private _detail: HTMLDivElement;
  private _source: HTMLPreElement;
  private _notes: HTMLDivElement;
  private _sort = 'number';
  private _descending = false;
  private _page = 0;
  private _running = false;
  private _abort: AbortController | null = null;
  private _failures = 0;
}

/** Several studies' convergence overlaid (one SVG from GET hpmagic/compare). */
export class ComparePage extends Widget {
  constructor(refs: IStudyRef[], trans: TranslationBundle) {
    super();
    this.addClass('jp-hpmagic-StudyPage');
    this.id = `hpmagic-compare-${Date.now()}`;
    this.title.label = trans.__('Compare %1 studies', refs.length);
    this.title.closable = true;
    const img = h('img', { class: 'jp-hpmagic-plot jp-hpmagic-comparePlot', alt: trans.__('convergence of the studies') });
    const list = h('ul', {}, ...refs.map(r => h('li', {}, `${r.name} (${r.store})`)));
    this.node.appendChild(h('h2', {}, trans.__('Best value so far')));
    this.node.appendChild(img);
    this.node.appendChild(list);
    void getImageURL(
      'compare',
      refs.map(r => ['study', `${r.store}::${r.id}`] as [string, string])
    ).then(
      url => {
        this._url = url;
        img.src = url;
      },
      error => this.node.appendChild(h('div', { class: 'jp-hpmagic-error' }, String(error)))
    );
  }

  dispose(): void {
    if (this._url) {
      URL.revokeObjectURL(this._url);
    }
    super.dispose();
  }

  private _url: string | null = null;
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}
