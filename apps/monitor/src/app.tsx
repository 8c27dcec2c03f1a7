/** @jsxRuntime automatic */
/** @jsxImportSource react */
// The monitor screen: header, workflow list (selection kept by id), expandable stage/task details,
// footer with queue depth, processing, dead letters and whole-database counts; typed prompts and y/n confirmations for actions.
import type { Workflow, WorkflowStatus } from '@stabilize/core';
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useCallback, useEffect, useRef, useState } from 'react';
import { FAILED_STATUSES, type Filter, type MonitorData, STATUS_FILTERS, type Snapshot, stageError, statusTotals } from './data.js';

export const STATUS_COLOURS: Record<string, string> = {
  RUNNING: 'blue',
  SUCCEEDED: 'green',
  TERMINAL: 'red',
  FAILED_CONTINUE: 'yellow',
  CANCELED: 'magenta',
  STOPPED: 'magenta',
  PAUSED: 'yellow',
  SUSPENDED: 'cyan',
  NOT_STARTED: 'gray',
  BUFFERED: 'gray',
  SKIPPED: 'gray',
  REDIRECT: 'cyan',
};

export function formatDuration(start: number | null, end: number | null, now: number): string {
  if (start === null) return '-';
  const s = Math.floor(Math.max(0, (end ?? now) - start) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function fit(text: string, width: number): string {
  if (width <= 0) return '';
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text.padEnd(width);
}

/** Poll intervals `+` / `-` step through (ms). */
export const REFRESH_STEPS: readonly number[] = [100, 250, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000];

export function formatInterval(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))}s`;
}

/** Every key, for the help overlay (`?`). */
export const HELP_KEYS: ReadonlyArray<readonly [string, string]> = [
  ['↑ ↓  k j', 'move the selection'],
  ['PgUp PgDn', 'move by a page'],
  ['g G  Home End', 'first / last workflow'],
  ['Enter space → ←', 'open / close the details pane'],
  ['J K', 'scroll the details pane by a line'],
  ['D U', 'scroll the details pane by a page'],
  ['f', 'follow the selected workflow'],
  ['e', 'jump to the next failed workflow'],
  ['s', 'status filter: all → running → failed → recent'],
  ['/', 'filter by text (id, app, name, status)'],
  ['a', 'filter by application'],
  ['+ -', 'refresh faster / slower'],
  ['y', 'copy the selected id (OSC 52)'],
  ['c', 'cancel: type a reason, then y/n'],
  ['p r', 'pause / resume (y/n)'],
  ['R', 'restart a stage by refId (y/n)'],
  ['S', 'signal a stage: refId, name (y/n)'],
  ['?  Esc', 'show / hide this help'],
  ['q  Ctrl-C', 'quit'],
];

const FAILED = new Set<string>(FAILED_STATUSES);

interface DetailLine {
  key: string;
  text: string;
  colour?: string;
  dim?: boolean;
}

function compact(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The scrollable lines of the details pane: stages (children indented), tasks, outputs, errors. */
export function detailLines(workflow: Workflow, now: number): DetailLine[] {
  const lines: DetailLine[] = [];
  if (workflow.cancellationReason) lines.push({ key: 'cancel', text: `canceled by ${workflow.canceledBy ?? '?'}: ${workflow.cancellationReason}`, colour: 'magenta' });
  if (workflow.paused) lines.push({ key: 'paused', text: `paused ${compact(workflow.paused)}`, colour: 'yellow' });
  const depth = new Map<string, number>();
  for (const s of workflow.stages) {
    const d = s.parentStageId ? (depth.get(s.parentStageId) ?? 0) + 1 : 0;
    depth.set(s.id, d);
    const pad = '  '.repeat(d + 1);
    lines.push({ key: s.id, text: `${pad}${s.refId} ${s.name} ${s.status} ${formatDuration(s.startTime, s.endTime, now)}`, colour: STATUS_COLOURS[s.status as WorkflowStatus] ?? 'white' });
    for (const t of s.tasks) lines.push({ key: t.id, text: `${pad}  · ${t.name} (${t.implementingClass}) ${t.status}`, dim: true });
    for (const [k, v] of Object.entries(s.outputs ?? {})) lines.push({ key: `${s.id}o${k}`, text: `${pad}  = ${k}: ${compact(v)}`, colour: 'green' });
    const err = stageError(s);
    if (err) lines.push({ key: `${s.id}e`, text: `${pad}  ! ${err}`, colour: 'red' });
  }
  if (lines.length === 0) lines.push({ key: 'none', text: '  (no stages)', dim: true });
  return lines;
}

/** Writes `text` to the terminal clipboard with an OSC 52 sequence (xterm, tmux, iTerm2, kitty…). */
export function osc52(text: string): string {
  return `\x1b]52;c;${Buffer.from(text, 'utf8').toString('base64')}\x07`;
}

type Action = 'cancel' | 'pause' | 'resume' | 'restart' | 'signal';
type Mode =
  | { kind: 'list' }
  | { kind: 'input'; purpose: 'text' | 'application' | 'reason' | 'stage' | 'signal'; label: string; value: string; action?: Action; args?: string[] }
  | { kind: 'confirm'; action: Action; args: string[]; question: string }
  | { kind: 'help' };

export interface AppProps {
  data: MonitorData;
  /** Poll interval in ms (default 2000). */
  refreshMs?: number;
  initialFilter?: Partial<Filter>;
  user?: string;
  /** Shown in the header (already redacted). */
  source?: string;
  /** Called when the user quits (after Ink unmounts). */
  onExit?: () => void;
  /** Puts text on the clipboard (`y`); default: an OSC 52 sequence on the terminal. */
  copy?: (text: string) => void;
}

export function App({ data, refreshMs = 2000, initialFilter, user = 'monitor', source = '', onExit, copy }: AppProps) {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [size, setSize] = useState({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [filter, setFilter] = useState<Filter>({ status: 'all', application: '', text: '', ...initialFilter });
  const [snapshot, setSnapshot] = useState<Snapshot | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selectedId, setSelectedState] = useState<string | null>(null);
  const selectedRef = useRef<string | null>(null);
  const setSelectedId = useCallback((id: string | null) => {
    selectedRef.current = id;
    setSelectedState(id);
  }, []);
  const [scroll, setScrollState] = useState(0);
  const scrollRef = useRef(0);
  const [expanded, setExpandedState] = useState<string | null>(null);
  const expandedRef = useRef<string | null>(null);
  const setExpanded = useCallback((id: string | null) => {
    if (id !== expandedRef.current) {
      scrollRef.current = 0; // a newly opened workflow starts at its top
      setScrollState(0);
    }
    expandedRef.current = id;
    setExpandedState(id);
  }, []);
  const [detail, setDetail] = useState<Workflow | null>(null);
  const [follow, setFollow] = useState(false);
  const [mode, setModeState] = useState<Mode>({ kind: 'list' });
  // Keys can arrive faster than renders: read and write the mode through a ref.
  const modeRef = useRef<Mode>(mode);
  const setMode = useCallback((m: Mode) => {
    modeRef.current = m;
    setModeState(m);
  }, []);
  const [toast, setToast] = useState<string | null>(null);
  const [intervalMs, setIntervalMs] = useState(refreshMs);
  const intervalRef = useRef(refreshMs);
  const setScroll = useCallback((n: number) => {
    scrollRef.current = n;
    setScrollState(n);
  }, []);
  const fetching = useRef(false);

  useEffect(() => {
    const onResize = () => setSize({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);

  const detailLinesCount = expanded ? Math.max(4, Math.floor((size.rows - 6) / 2)) : 0;
  const listRows = Math.max(1, size.rows - 5 - detailLinesCount);

  const refresh = useCallback(async () => {
    if (fetching.current) return; // never overlap fetches
    fetching.current = true;
    try {
      const snap = await data.snapshot(filter, listRows, expanded);
      setSnapshot(snap);
      setError(null);
      // Only if the same workflow is still expanded (a key may have changed it meanwhile).
      if (snap.detail && snap.detail.id === expandedRef.current) setDetail(snap.detail);
    } catch (e) {
      setError((e as Error).message); // keep the last good snapshot
    } finally {
      fetching.current = false;
    }
  }, [data, filter, listRows, expanded]);

  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), intervalMs);
    return () => clearInterval(timer);
  }, [refresh, intervalMs]);


  useEffect(() => {
    if (!toast) return;
    const t = setTimeout(() => setToast(null), 1500);
    return () => clearTimeout(t);
  }, [toast]);

  const rows = snapshot?.workflows ?? [];
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  const now = snapshot?.fetchedAt ?? Date.now();
  const paneLines = expanded && detail ? detailLines(detail, now) : [];
  // The pane: a border line, a pinned title line, then the scrolled lines.
  const paneView = Math.max(1, detailLinesCount - 2);
  const maxScroll = Math.max(0, paneLines.length - paneView);
  const scrollTop = Math.min(scroll, maxScroll);
  const maxScrollRef = useRef(maxScroll);
  maxScrollRef.current = maxScroll;
  const index = Math.max(0, rows.findIndex((r) => r.id === selectedId));
  const selected = rows[index] ?? null;
  useEffect(() => {
    if (follow && expanded && selectedId !== expanded) setSelectedId(expanded);
  }, [follow, expanded, selectedId, setSelectedId]);

  const run = async (action: Action, args: string[]) => {
    const [id, a, b] = args as [string, string?, string?];
    try {
      if (action === 'cancel') await data.cancel(id, user, a ?? '');
      else if (action === 'pause') await data.pause(id, user);
      else if (action === 'resume') await data.resume(id);
      else if (action === 'restart') await data.restart(id, a ?? '');
      else await data.signal(id, a ?? '', b ?? '');
      setToast(`${action} sent for ${id}`);
    } catch (e) {
      setToast(`${action} failed: ${(e as Error).message}`);
    }
    void refresh();
  };

  const quit = () => {
    exit();
    onExit?.();
  };

  useInput((input, key) => {
    const mode = modeRef.current;
    const rows = rowsRef.current;
    const index = Math.max(0, rows.findIndex((r) => r.id === selectedRef.current));
    const selected = rows[index] ?? null;
    if (key.ctrl && input === 'c') return quit();
    if (mode.kind === 'input') {
      if (key.escape) return setMode({ kind: 'list' });
      // Enter can arrive in the same chunk as typed or pasted text: submit what came before it.
      const newline = key.return ? -1 : input.search(/[\r\n]/);
      if (key.return || newline >= 0) {
        const v = (newline >= 0 ? mode.value + input.slice(0, newline) : mode.value).trim();
        if (mode.purpose === 'text') setFilter((f) => ({ ...f, text: v }));
        else if (mode.purpose === 'application') setFilter((f) => ({ ...f, application: v }));
        else if (mode.action && mode.args) {
          const args = [...mode.args, v];
          if (mode.purpose === 'stage' && mode.action === 'signal') return setMode({ kind: 'input', purpose: 'signal', label: 'Signal name', value: '', action: 'signal', args });
          if (mode.purpose !== 'reason' && v === '') return setMode({ kind: 'list' });
          return setMode({ kind: 'confirm', action: mode.action, args, question: `${mode.action} ${args.join(' ')}?` });
        }
        return setMode({ kind: 'list' });
      }
      if (key.backspace || key.delete) return setMode({ ...mode, value: mode.value.slice(0, -1) });
      if (input && !key.ctrl && !key.meta) return setMode({ ...mode, value: mode.value + input });
      return;
    }
    if (mode.kind === 'confirm') {
      if (input === 'y' || input === 'Y') {
        void run(mode.action, mode.args);
        return setMode({ kind: 'list' });
      }
      if (input === 'n' || input === 'N' || key.escape) {
        setToast('canceled');
        return setMode({ kind: 'list' });
      }
      return;
    }
    if (mode.kind === 'help') {
      if (input === '?' || input === 'q' || input === 'Q' || key.escape) setMode({ kind: 'list' });
      return;
    }
    if (input === 'q' || input === 'Q') return quit();
    const move = (to: number) => {
      const r = rows[Math.min(rows.length - 1, Math.max(0, to))];
      if (r) {
        setSelectedId(r.id);
        setFollow(false);
      }
    };
    if (key.upArrow || input === 'k') return move(index - 1);
    if (key.downArrow || input === 'j') return move(index + 1);
    if (input === 'g' || key.home) return move(0);
    if (input === 'G' || key.end) return move(rows.length - 1);
    if (key.pageUp) return move(index - listRows);
    if (key.pageDown) return move(index + listRows);
    if (input === '?') return setMode({ kind: 'help' });
    if (input === '+' || input === '=' || input === '-' || input === '_') {
      const faster = input === '+' || input === '=';
      const ms = intervalRef.current;
      const next = faster ? ([...REFRESH_STEPS].reverse().find((x) => x < ms) ?? ms) : (REFRESH_STEPS.find((x) => x > ms) ?? ms);
      intervalRef.current = next;
      setIntervalMs(next);
      return setToast(next === ms ? `refresh stays at ${formatInterval(ms)} (limit)` : `refresh every ${formatInterval(next)}`);
    }
    if (expandedRef.current && (input === 'J' || input === 'K' || input === 'D' || input === 'U')) {
      const step = input === 'J' || input === 'K' ? 1 : Math.max(1, paneView - 1);
      const dir = input === 'J' || input === 'D' ? 1 : -1;
      return setScroll(Math.min(maxScrollRef.current, Math.max(0, Math.min(scrollRef.current, maxScrollRef.current) + dir * step)));
    }
    if (input === 'e') {
      const n = rows.length;
      for (let i = 1; i <= n; i++) {
        const r = rows[(index + i) % n]!;
        if (FAILED.has(r.status)) {
          setSelectedId(r.id);
          setFollow(false);
          return;
        }
      }
      return setToast('no failed workflow on screen');
    }
    if (input === 's') return setFilter((f) => ({ ...f, status: STATUS_FILTERS[(STATUS_FILTERS.indexOf(f.status) + 1) % STATUS_FILTERS.length]! }));
    if (input === '/') return setMode({ kind: 'input', purpose: 'text', label: 'Filter text', value: filter.text });
    if (input === 'a') return setMode({ kind: 'input', purpose: 'application', label: 'Application', value: filter.application });
    if (!selected) return;
    if (key.return || input === ' ' || key.rightArrow || key.leftArrow) {
      const open = key.leftArrow ? null : expandedRef.current === selected.id && !key.rightArrow ? null : selected.id;
      setExpanded(open);
      setDetail(null);
      if (open) void data.detail(open).then(setDetail, (e: Error) => setError(e.message));
      return;
    }
    if (input === 'f') {
      setFollow((x) => !x);
      setExpanded(selected.id);
      void data.detail(selected.id).then(setDetail, (e: Error) => setError(e.message));
      return;
    }
    if (input === 'y') {
      try {
        (copy ?? ((text: string) => stdout.write(osc52(text))))(selected.id);
        setToast(`copied ${selected.id}`);
      } catch (e) {
        setToast(`copy failed: ${(e as Error).message}`);
      }
      return;
    }
    if (input === 'c') return setMode({ kind: 'input', purpose: 'reason', label: `Cancel ${selected.id}: reason (Enter, Esc aborts)`, value: '', action: 'cancel', args: [selected.id] });
    if (input === 'p') return setMode({ kind: 'confirm', action: 'pause', args: [selected.id], question: `Pause ${selected.id}?` });
    if (input === 'r') return setMode({ kind: 'confirm', action: 'resume', args: [selected.id], question: `Resume ${selected.id}?` });
    if (input === 'R') return setMode({ kind: 'input', purpose: 'stage', label: 'Restart stage (refId)', value: '', action: 'restart', args: [selected.id] });
    if (input === 'S') return setMode({ kind: 'input', purpose: 'stage', label: 'Signal stage (refId)', value: '', action: 'signal', args: [selected.id] });
  });

  const width = size.columns;
  if (width < 60 || size.rows < 8) return <Text>Terminal too small ({width}x{size.rows}); need at least 60x8.</Text>;

  // Right-anchored grid: status 15, progress 5, duration 7, start 19.
  const showStart = width >= 100;
  const fixed = 2 + 15 + 1 + 5 + 1 + 7 + 1 + (showStart ? 20 : 0);
  const nameWidth = Math.max(10, width - fixed - 1);
  const start = Math.min(Math.max(0, index - listRows + 1), Math.max(0, rows.length - listRows));
  const visible = rows.slice(start, start + listRows);

  // Whole-database counts (of the filtered application), not just the rows on screen.
  const totals = snapshot?.statusCounts ? statusTotals(snapshot.statusCounts) : null;
  const wide = width >= 100;

  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate">
        <Text bold>Stabilize monitor</Text>
        <Text dimColor>{source ? ` ${source}` : ''}</Text>
        {'  '}filter: <Text color="cyan">{filter.status}</Text>
        {filter.application ? ` app=${filter.application}` : ''}
        {filter.text ? ` text="${filter.text}"` : ''}
        {follow ? '  [follow]' : ''}
        {error ? <Text color="red">{`  error: ${error}`}</Text> : ''}
      </Text>
      {mode.kind === 'help' ? (
        <Help height={size.rows - 4} width={width} />
      ) : (
        <>
          <Text dimColor wrap="truncate">
            {`  ${fit('WORKFLOW', nameWidth)} ${fit('STATUS', 15)} ${fit('DONE', 5)} ${fit('TIME', 7)}${showStart ? ` ${fit('STARTED', 19)}` : ''}`}
          </Text>
          <Box flexDirection="column" height={listRows}>
            {snapshot === null ? <Text dimColor>Loading…</Text> : null}
            {snapshot !== null && rows.length === 0 ? <Text dimColor>No workflows match.</Text> : null}
            {visible.map((r) => {
              const isSel = r.id === selected?.id;
              const label = `${r.application}/${r.name}${r.error ? ` ! ${r.error}` : ''}`;
              return (
                <Text key={r.id} wrap="truncate" inverse={isSel}>
                  {isSel ? '> ' : '  '}
                  {fit(label, nameWidth)} <Text color={STATUS_COLOURS[r.status] ?? 'white'}>{fit(r.status, 15)}</Text> {fit(`${r.stagesDone}/${r.stagesTotal}`, 5)} {fit(formatDuration(r.startTime, r.endTime, now), 7)}
                  {showStart ? ` ${fit(r.startTime ? new Date(r.startTime).toISOString().slice(0, 19).replace('T', ' ') : '-', 19)}` : ''}
                </Text>
              );
            })}
          </Box>
          {expanded ? <Details workflow={detail} lines={paneLines} top={scrollTop} height={detailLinesCount} width={width} /> : null}
        </>
      )}
      <Text wrap="truncate">
        {`queue ${snapshot?.queueDepth ?? '-'}  ${wide ? 'processing' : 'proc'} ${snapshot?.queue.processing ?? '-'}  ${wide ? 'dead letters' : 'dlq'} `}
        <Text color={snapshot && snapshot.deadLetters > 0 ? 'red' : undefined}>{String(snapshot?.deadLetters ?? '-')}</Text>
        {`  shown ${rows.length}  ${wide ? 'running' : 'run'} ${totals?.running ?? '-'}  ${wide ? 'failed' : 'fail'} `}
        <Text color={totals && totals.failed > 0 ? 'red' : undefined}>{String(totals?.failed ?? '-')}</Text>
        {`  refresh ${formatInterval(intervalMs)}  updated ${snapshot ? new Date(snapshot.fetchedAt).toISOString().slice(11, 19) : '-'}Z`}
      </Text>
      <Bottom mode={mode} toast={toast} />
    </Box>
  );
}

function Bottom({ mode, toast }: { mode: Mode; toast: string | null }) {
  if (mode.kind === 'input')
    return (
      <Text wrap="truncate">
        <Text color="yellow">{mode.label}: </Text>
        {mode.value}
        <Text inverse> </Text>
      </Text>
    );
  if (mode.kind === 'confirm')
    return (
      <Text wrap="truncate" color="yellow">
        {mode.question} (y/n)
      </Text>
    );
  if (mode.kind === 'help') return <Text dimColor wrap="truncate">? or Esc closes the help</Text>;
  if (toast) return <Text color="cyan" wrap="truncate">{toast}</Text>;
  return (
    <Text dimColor wrap="truncate">
      ? help · q quit · ↑↓ move · Enter details · J/K scroll · +/- refresh · s status · / text · e failed · c cancel · p pause · r resume
    </Text>
  );
}

/** The help overlay: every key, in one column, or two when the terminal is short. */
function Help({ height, width }: { height: number; width: number }) {
  const body = Math.max(1, height - 1);
  const columns = HELP_KEYS.length <= body ? 1 : 2;
  const perColumn = Math.ceil(HELP_KEYS.length / columns);
  const colWidth = Math.floor(width / columns);
  const keyWidth = 17;
  return (
    <Box flexDirection="column" height={height} width={width}>
      <Text bold wrap="truncate">
        Keys
      </Text>
      <Box flexDirection="row">
        {Array.from({ length: columns }, (_, c) => HELP_KEYS.slice(c * perColumn, (c + 1) * perColumn)).map((keys) => (
          <Box key={keys[0]![0]} flexDirection="column" width={colWidth}>
            {keys.map(([k, what]) => (
              <Text key={k} wrap="truncate">
                <Text color="cyan">{fit(k, keyWidth)}</Text>
                {what}
              </Text>
            ))}
          </Box>
        ))}
      </Box>
    </Box>
  );
}

function Details({ workflow, lines, top, height, width }: { workflow: Workflow | null; lines: DetailLine[]; top: number; height: number; width: number }) {
  const view = Math.max(1, height - 2);
  const shown = lines.slice(top, top + view);
  const range = lines.length > view ? `  lines ${top + 1}-${top + shown.length}/${lines.length} J/K D/U` : '';
  return (
    <Box flexDirection="column" height={height} borderStyle="single" borderTop borderBottom={false} borderLeft={false} borderRight={false} width={width}>
      {workflow === null ? (
        <Text dimColor>Loading…</Text>
      ) : (
        <Text wrap="truncate">
          <Text bold>{`${workflow.application}/${workflow.name}`}</Text>
          <Text dimColor>{` ${workflow.id} `}</Text>
          <Text color={STATUS_COLOURS[workflow.status] ?? 'white'}>{workflow.status}</Text>
          <Text dimColor>{range}</Text>
        </Text>
      )}
      {shown.map((l) => (
        <Text key={l.key} wrap="truncate" {...(l.colour ? { color: l.colour } : {})} dimColor={l.dim ?? false}>
          {l.text}
        </Text>
      ))}
    </Box>
  );
}
