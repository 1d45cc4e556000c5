/** Percentiles and the terminal table. */

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface Row {
  workload: string;
  figure: string;
  app: string;
  baseline: string;
  ratio: string;
  target: string;
  met: string;
}

export function formatTable(rows: Row[]): string {
  const keys = ["workload", "figure", "app", "baseline", "ratio", "target", "met"] as const;
  return formatGrid(
    ["workload", "figure", "app", "baseline", "app/baseline", "target", "met"],
    rows.map((r) => keys.map((k) => r[k])),
  );
}

/** A markdown table, columns padded to their widest cell. */
export function formatGrid(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => `| ${widths.map((w, i) => (r[i] ?? "").padEnd(w)).join(" | ")} |`;
  const rule = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

export const fmt = {
  int: (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a"),
  ms: (n: number) => (Number.isFinite(n) ? `${round(n, n < 10 ? 2 : 1)} ms` : "n/a"),
  kib: (bytes: number) => (Number.isFinite(bytes) ? `${round(bytes / 1024, 1)} KiB` : "n/a"),
  ratio: (n: number) => (Number.isFinite(n) ? `${round(n * 100, 0)}%` : "n/a"),
  times: (n: number) => (Number.isFinite(n) ? `${round(n, 2)}×` : "n/a"),
  /** CPU ms per message; null (no such process) and NaN (no message) as n/a. */
  cpu: (n: number | null | undefined) =>
    typeof n === "number" && Number.isFinite(n) ? n.toFixed(3) : "n/a",
};
