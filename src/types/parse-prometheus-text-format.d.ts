// The package ships no types. Its output follows prom2json: one entry per metric family, values as strings.
declare module 'parse-prometheus-text-format' {
  export interface PromMetric { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; quantiles?: Record<string, string>; count?: string; sum?: string }
  export interface PromFamily { name: string; help: string; type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'; metrics: PromMetric[] }
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
