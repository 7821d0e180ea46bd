/**
 * Levelled structured logging. Verbosity follows klog's -v: errors, warnings and info at 0,
 * per-sync summaries at 1, details at 2 and above. One line per record: `LEVEL time component msg k=v…`,
 * or one JSON object per line with `json: true`.
 */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined | null>>;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  /** Verbose: emitted only when the configured verbosity is at least `level`. */
  v(level: number, msg: string, fields?: LogFields): void;
  child(component: string): Logger;
}

export interface LogSink {
  write(line: string): void;
}

export interface LoggerOptions {
  verbosity: number;
  json?: boolean;
  sink?: LogSink;
  now?: () => number;
}

function formatValue(v: string | number | boolean | null): string {
  const s = String(v);
  return /^[\w.:/@+\-,[\]]*$/.test(s) && s !== '' ? s : JSON.stringify(s);
}

export function createLogger(opts: LoggerOptions, component = 'kube-router'): Logger {
  const sink = opts.sink ?? { write: (l: string) => process.stderr.write(l + '\n') };
  const now = opts.now ?? Date.now;
  const emit = (level: string, msg: string, fields?: LogFields): void => {
    const time = new Date(now()).toISOString();
    if (opts.json) {
      sink.write(JSON.stringify({ level, time, component, msg, ...fields }));
      return;
    }
    let line = `${level} ${time} ${component} ${msg}`;
    for (const [k, v] of Object.entries(fields ?? {})) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    sink.write(line);
  };
  return {
    error: (m, f) => emit('E', m, f),
    warn: (m, f) => emit('W', m, f),
    info: (m, f) => emit('I', m, f),
    v: (level, m, f) => {
      if (opts.verbosity >= level) emit(`V${level}`, m, f);
    },
    child: (c) => createLogger(opts, `${component}/${c}`),
  };
}

/** A logger that keeps records in memory, for tests. */
export function memoryLogger(verbosity = 10): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ verbosity, sink: { write: (l) => lines.push(l) }, now: () => 0 }), lines };
}
