// @stabilize/monitor: the live terminal monitor (Ink). `stabilize monitor` starts it.
export { App, type AppProps, formatDuration, STATUS_COLOURS } from './app.js';
export { contextError, FAILED_STATUSES, type Filter, type MonitorBackend, MonitorData, STATUS_FILTERS, type Snapshot, type StatusFilter, stageError, type WorkflowRow } from './data.js';
export { type RunMonitorOptions, runMonitor } from './run.js';
