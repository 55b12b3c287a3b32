// A component whose code loads on first use (a separate chunk of the build), so a page does not
// parse what it does not show: the charts, and pages other than the experiments and runs.
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ErrorBox, Loading } from "./components/common";

export function lazily<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | undefined;
  let failed: Error | undefined;
  let pending: Promise<void> | undefined;
  const start = () =>
    (pending ??= load().then(
      (c) => {
        loaded = c;
      },
      (e: Error) => {
        failed = e;
      },
    ));
  return function Lazy(props: P) {
    const [, settle] = useState(0);
    const drawn = loaded !== undefined || failed !== undefined;
    useEffect(() => {
      // The code may have arrived between this render (which showed "Loading") and now: the
      // render still has to be redone.
      if (drawn) return undefined;
      let live = true;
      void start().then(() => live && settle((n) => n + 1));
      return () => {
        live = false;
      };
    }, []);
    if (failed) return <ErrorBox error={failed} />;
    if (!loaded) {
      void start();
      return <Loading />;
    }
    const Component = loaded;
    return <Component {...props} />;
  };
}
