// Charts with Chart.js (canvas; no inline styles or scripts, so the strict CSP holds).
// Each canvas carries a text label for screen readers.
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip, type ChartConfiguration } from "chart.js";
import { useEffect, useRef } from "preact/hooks";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

export const COLORS = { ALLOW: "#1a7f37", DENY: "#cf222e", STEP_UP: "#9a6700", ERROR: "#57606a" } as const;

export function BarChart({ label, config }: { label: string; config: ChartConfiguration<"bar"> }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, { ...config, options: { animation: false, responsive: true, maintainAspectRatio: false, ...config.options } });
    return () => chart.destroy();
  }, [JSON.stringify(config.data)]);
  return (
    <div class="chart">
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
