/**
 * hpmagic's JupyterLab extension: the "Studies" sidebar, study and compare pages, and "Tune this cell".
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

import { IStudyRef, StudiesPanel } from './panel';
import { ComparePage, StudyPage } from './study';

const PLUGIN_ID = 'hpmagic:plugin';

namespace CommandIDs {
  export const openPanel = 'hpmagic:open-studies';
  export const openStudy = 'hpmagic:open-study';
  export const compare = 'hpmagic:compare';
  export const refresh = 'hpmagic:refresh-studies';
  export const tuneCell = 'hpmagic:tune-cell';
}

const studiesIcon = new LabIcon({
  name: 'hpmagic:studies',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M3 20h18v2H3z"/><path d="M5 18V10h3v8zM10.5 18V4h3v14zM16 18v-6h3v6z"/>' +
    '</g></svg>'
});

const tuneIcon = new LabIcon({
  name: 'hpmagic:tune',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M3 5h10v2H3zM17 5h4v2h-4zM13 3h2v6h-2zM3 11h4v2H3zM11 11h10v2H11zM7 9h2v6H7zM3 17h12v2H3z' +
    'M19 17h2v2h-2zM15 15h2v6h-2z"/></g></svg>'
});

/** Whether the notebook's kernel has hpmagic loaded (false when there is no idle kernel to ask). */
async function kernelHasHpmagic(panel: NotebookPanel): Promise<boolean> {
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel || kernel.status !== 'idle') {
    return false;
  }
  try {
    const reply = await kernel.requestExecute({
      code: '',
      silent: true,
      store_history: false,
      user_expressions: { hpmagic: "'hpmagic' in get_ipython().extension_manager.loaded" }
    }).done;
    const content = reply.content as { user_expressions?: { [key: string]: { data?: { [mime: string]: string } } } };
    return content.user_expressions?.hpmagic?.data?.['text/plain'] === 'True';
  } catch {
    return false;
  }
}

/**
 * Make the active code cell a %%tune cell, with `%load_ext hpmagic` above it when no cell above loads it and the
 * kernel has not loaded it either.
 */
export async function tuneActiveCell(tracker: INotebookTracker): Promise<boolean> {
  const panel = tracker.currentWidget;
  const notebook = panel?.content;
  const cell = notebook?.activeCell;
  if (!panel || !notebook || !cell || cell.model.type !== 'code') {
    return false;
  }
  const source = cell.model.sharedModel.getSource();
  if (!/^\s*%%tune\b/.test(source)) {
    cell.model.sharedModel.setSource(`%%tune --trials 20\n${source}`);
  }
  const above = notebook.widgets
    .slice(0, notebook.activeCellIndex)
    .some(c => /^\s*%load_ext\s+hpmagic\s*$/m.test(c.model.sharedModel.getSource()));
  const loaded = above || (await kernelHasHpmagic(panel));
  const index = notebook.widgets.indexOf(cell);
  if (!loaded && index >= 0) {
    notebook.activeCellIndex = index;
    NotebookActions.insertAbove(notebook);
    notebook.activeCell?.model.sharedModel.setSource('%load_ext hpmagic');
    notebook.activeCellIndex = index + 1;
  }
  return true;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'A live Studies panel, study pages and "Tune this cell" for hpmagic.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, INotebookTracker, ISettingRegistry, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    notebooks: INotebookTracker | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('hpmagic');
    const { commands, shell } = app;
    const config = { pageSize: 50, pollTimeout: 20 };

    const insert = (text: string): boolean => {
      const notebook = notebooks?.currentWidget?.content;
      if (!notebook) {
        return false;
      }
      NotebookActions.insertBelow(notebook);
      notebook.activeCell?.model.sharedModel.setSource(text);
      return true;
    };

    const tracker = new WidgetTracker<MainAreaWidget<StudyPage>>({ namespace: 'hpmagic-study' });

    const openStudy = (ref: IStudyRef): void => {
      const existing = tracker.find(w => w.content.ref.store === ref.store && w.content.ref.id === ref.id);
      if (existing) {
        shell.activateById(existing.id);
        return;
      }
      const content = new StudyPage({
        ref,
        trans,
        insert,
        notebookDir: () => {
          const path = notebooks?.currentWidget?.context.path;
          return path === undefined ? null : path.split('/').slice(0, -1).join('/');
        },
        pageSize: config.pageSize,
        pollTimeout: config.pollTimeout,
        onGone: () => widget.dispose()
      });
      const widget = new MainAreaWidget({ content });
      widget.id = content.id;
      widget.title.icon = studiesIcon;
      widget.title.closable = true;
      content.title.changed.connect(() => {
        widget.title.label = content.title.label;
      });
      widget.title.label = ref.name;
      void tracker.add(widget);
      shell.add(widget, 'main');
      shell.activateById(widget.id);
      content.start();
    };

    const compare = (refs: IStudyRef[]): void => {
      const widget = new MainAreaWidget({ content: new ComparePage(refs, trans) });
      widget.title.icon = studiesIcon;
      shell.add(widget, 'main');
      shell.activateById(widget.id);
    };

    const panel = new StudiesPanel({ trans, open: openStudy, compare });
    panel.id = 'hpmagic-studies';
    panel.title.icon = studiesIcon;
    panel.title.caption = trans.__('hpmagic studies');
    shell.add(panel, 'left', { rank: 600 });
    panel.start();

    commands.addCommand(CommandIDs.openPanel, {
      label: trans.__('Show hpmagic Studies'),
      execute: () => shell.activateById(panel.id)
    });
    commands.addCommand(CommandIDs.refresh, {
      label: trans.__('Refresh hpmagic Studies'),
      execute: () => panel.refresh()
    });
    commands.addCommand(CommandIDs.openStudy, {
      label: args => trans.__('Open study %1', String(args.name ?? '')),
      execute: args => {
        if (typeof args.store === 'string' && typeof args.id === 'number') {
          openStudy({ store: args.store, id: args.id, name: String(args.name ?? args.id) });
        }
      }
    });
    commands.addCommand(CommandIDs.tuneCell, {
      label: trans.__('Tune This Cell'),
      caption: trans.__('Make the active cell a %%tune cell (and load hpmagic above it if needed)'),
      icon: args => (args.toolbar ? tuneIcon : undefined),
      isEnabled: () => notebooks?.activeCell?.model.type === 'code',
      execute: async () => {
        if (notebooks) {
          await tuneActiveCell(notebooks);
        }
      }
    });
    if (palette) {
      const category = trans.__('hpmagic');
      for (const command of [CommandIDs.openPanel, CommandIDs.refresh, CommandIDs.tuneCell]) {
        palette.addItem({ command, category });
      }
    }
    if (restorer) {
      restorer.add(panel, 'hpmagic-studies');
      void restorer.restore(tracker, {
        command: CommandIDs.openStudy,
        args: widget => ({ ...widget.content.ref }),
        name: widget => `${widget.content.ref.store}::${widget.content.ref.id}`
      });
    }
    if (settingRegistry) {
      void settingRegistry.load(PLUGIN_ID).then(
        settings => {
          const apply = () => {
            config.pageSize = (settings.get('pageSize').composite as number) ?? 50;
            config.pollTimeout = (settings.get('pollTimeout').composite as number) ?? 20;
            panel.configure({
              extraStores: (settings.get('extraStores').composite as string[]) ?? [],
              pollTimeout: config.pollTimeout,
              minRefreshInterval: (settings.get('minRefreshInterval').composite as number) ?? 250
            });
          };
          apply();
          settings.changed.connect(apply);
        },
        error => console.warn('hpmagic: cannot load settings', error)
      );
    }
  }
};

export default plugin;
