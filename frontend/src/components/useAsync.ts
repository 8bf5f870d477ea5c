import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { problemOf, type Problem } from "../api/problem";

/**
 * Load data when `key` changes (and on reload()); keeps the last data while reloading and
 * the problem when it fails. `key` names everything `load` depends on.
 */
export function useAsync<T>(load: () => Promise<T>, key: string) {
  const [data, setData] = useState<T | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [settled, setSettled] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  useLayoutEffect(() => {
    loadRef.current = load;
  });
  const token = `${key}#${tick}`;
  useEffect(() => {
    let live = true;
    loadRef.current().then(
      (d) => {
        if (!live) return;
        setData(d);
        setProblem(null);
        setSettled(token);
      },
      (err: unknown) => {
        if (!live) return;
        setProblem(problemOf(err));
        setSettled(token);
      },
    );
    return () => {
      live = false;
    };
  }, [token]);
  const reload = useCallback(() => {
    setTick((t) => t + 1);
  }, []);
  return { data, problem, loading: settled !== token, reload };
}

/** Run an action from a button; exposes busy and the problem it ended with. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const run = useCallback(async <T,>(fn: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setProblem(null);
    try {
      return await fn();
    } catch (err) {
      setProblem(problemOf(err));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, problem, run, setProblem };
}
