// The wire shapes of MLflow's REST API (as Traza serves them) and of Traza's additions.

export interface KeyValue {
  key: string;
  value: string;
}

export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage: "active" | "deleted";
  creation_time?: number;
  last_update_time?: number;
  tags?: KeyValue[];
}

export interface Metric {
  key: string;
  value: number | string;
  timestamp: number;
  step?: number;
}

export interface RunInfo {
  run_id: string;
  run_name?: string;
  experiment_id: string;
  user_id?: string;
  status: string;
  start_time?: number;
  end_time?: number;
  artifact_uri?: string;
  lifecycle_stage: "active" | "deleted";
}

export interface Dataset {
  name: string;
  digest: string;
  source_type?: string;
  source?: string;
  schema?: string;
  profile?: string;
}

export interface DatasetInput {
  tags?: KeyValue[];
  dataset: Dataset;
}

export interface Run {
  info: RunInfo;
  data: { metrics?: Metric[]; params?: KeyValue[]; tags?: KeyValue[] };
  inputs?: { dataset_inputs?: DatasetInput[]; model_inputs?: { model_id: string }[] };
  outputs?: { model_outputs?: { model_id: string; step?: number }[] };
}

export interface FileInfo {
  path: string;
  is_dir?: boolean;
  file_size?: number | string;
}

export interface ExperimentKeys {
  params: string[];
  metrics: string[];
  tags: string[];
}

export interface Series {
  run_id: string;
  key: string;
  total: number;
  x_axis?: string;
  sampled?: boolean;
  /** (x, value) pairs; values that are not finite come as "NaN", "Infinity", "-Infinity". */
  points: [number, number | string][];
  min?: number | string | null;
  max?: number | string | null;
}

export interface MetricSummary {
  key: string;
  latest: number | string | null;
  min: number | string | null;
  max: number | string | null;
  count: number;
  last_step?: number;
  last_timestamp?: number;
}

export interface LoggedModel {
  info: {
    model_id: string;
    experiment_id: string;
    name: string;
    artifact_uri?: string;
    creation_timestamp_ms?: number;
    last_updated_timestamp_ms?: number;
    model_type?: string;
    source_run_id?: string;
    status?: string;
    tags?: KeyValue[];
  };
  data?: { params?: KeyValue[]; metrics?: Metric[] };
}

export interface ModelVersion {
  name: string;
  version: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  current_stage?: string;
  description?: string;
  source?: string;
  run_id?: string;
  status?: string;
  tags?: KeyValue[];
  aliases?: string[];
  model_id?: string;
}

export interface RegisteredModel {
  name: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  description?: string;
  latest_versions?: ModelVersion[];
  tags?: KeyValue[];
  aliases?: { alias: string; version: string }[];
}

export type ViewType = "ACTIVE_ONLY" | "DELETED_ONLY" | "ALL";
