import { render } from 'ink';
import { createElement } from 'react';
import { App } from './app.js';
import type { Filter, MonitorData } from './data.js';

export interface RunMonitorOptions {
  refreshMs?: number;
  filter?: Partial<Filter>;
  user?: string;
  source?: string;
}

/** Renders the monitor full-screen until q / Ctrl-C; resolves when Ink has restored the terminal. */
export async function runMonitor(data: MonitorData, options: RunMonitorOptions = {}): Promise<void> {
  const instance = render(
    createElement(App, {
      data,
      ...(options.refreshMs ? { refreshMs: options.refreshMs } : {}),
      ...(options.filter ? { initialFilter: options.filter } : {}),
      ...(options.user ? { user: options.user } : {}),
      ...(options.source ? { source: options.source } : {}),
    }),
    { exitOnCtrlC: false },
  );
  await instance.waitUntilExit();
}
