// The settings shared by a page's charts, read from and written to the URL. Kept apart from the
// chart code so the runs table loads without the charting library.
import type { XAxis } from "./api";

export interface ChartSettings {
  xAxis: XAxis;
  log: boolean;
  smoothing: number;
}

export function settingsFromQuery(query: URLSearchParams): ChartSettings {
  const x = query.get("x");
  return {
    xAxis: x === "timestamp" || x === "relative" ? x : "step",
    log: query.get("log") === "1",
    smoothing: Math.min(0.99, Math.max(0, Number(query.get("smooth")) || 0)),
  };
}

export const settingsToQuery = (s: ChartSettings) => ({
  x: s.xAxis === "step" ? "" : s.xAxis,
  log: s.log ? "1" : "",
  smooth: s.smoothing ? String(s.smoothing) : "",
});
