import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";

export interface Async<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Run `load` whenever `deps` change; a stale answer never overwrites a newer one. The request
 * starts while the component renders, not after the browser paints (when effects run), so a
 * page's requests leave a frame earlier.
 */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const started = useMemo(() => early(load), [...deps, tick]);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => (s.loading ? s : { ...s, loading: true }));
    started.then(
      (data) => mine === seq.current && setState({ data, loading: false }),
      (error: Error) => mine === seq.current && setState((s) => ({ data: s.data, error, loading: false })),
    );
  }, [started]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.error ? undefined : state.data, error: state.error, loading: state.loading, reload };
}

/** `load()` started now; a failure is handled by whoever awaits it (not an unhandled rejection
 * before the effect that awaits it has run). */
export function early<T>(load: () => Promise<T>): Promise<T> {
  const p = Promise.resolve().then(load);
  p.catch(() => undefined);
  return p;
}

/** Call `fn` every `ms` while `active`. */
export function useInterval(fn: () => void, ms: number, active: boolean): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!active) return undefined;
    const id = window.setInterval(() => saved.current(), ms);
    return () => window.clearInterval(id);
  }, [ms, active]);
}
