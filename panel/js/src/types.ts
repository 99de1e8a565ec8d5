// The shapes of `props.data`, as panel/README.md defines them.

export type RunStatus = "Generating" | "In Review" | "Approved" | "Error";
export type Tab = "review" | "approval";
export type Target = "all" | "view" | "selected";

export interface RunCard {
  key: string;
  name: string;
  status: RunStatus;
  task: string;
  method: string | null;
  models: string[];
  classes_count: number;
  labels_count: number;
  label_field: string;
  staging_field: string;
  created_at: string | null;
  error: string | null;
  progress: { percent: number; done: number; total: number } | null;
  operations: { id: string; state: string }[];
}

/** A catalog entry as the registry gives it (`CatalogEntry.to_dict()`), with its weights' state. */
export interface ModelCard {
  name: string;
  family: string;
  version: string;
  size: string;
  library: string;
  architecture: string;
  tasks: string[];
  zero_shot: boolean;
  vocabulary: string[] | null;
  default_confidence: number;
  description: string;
  author: string;
  license: string;
  url: string;
  speed: number;
  performance: number;
  custom: boolean;
  weights: "present" | "missing";
}

/** The models a task and method can use: the configure page shows these and filters nothing. */
export interface ModelChoice {
  task: string;
  /** null unless the task is instance_segmentation */
  method: string | null;
  labelers: ModelCard[];
  segmenters: ModelCard[];
}

export interface Context {
  enabled: boolean;
  disabled_reason: string | null;
  read_only: boolean;
  dataset: string;
  media_type: string;
  counts: Record<Target, number>;
  detections_fields: string[];
  analyzable_fields: { name: string; type: string }[];
  default_mask_dir: string;
}

export interface StatsRow {
  label: string;
  count: number;
  total: number;
  mean_confidence: number | null;
}

export interface Review {
  confidence: { min: number | null; max: number | null };
  confidence_bounds: { min: number; max: number };
  class_filter: string | null;
  state: "in_review" | "promoted";
  count: number;
  total: number;
  rows: StatsRow[];
}

export interface PanelData {
  context?: Context;
  runs?: RunCard[];
  /** every task/method combination, sent by show_configure */
  model_choices?: ModelChoice[];
  page?: "home" | "configure" | "analyze" | "run";
  run?: RunCard | null;
  tab?: Tab;
  review?: Review | null;
  error?: string | null;
  label_field_error?: string | null;
  /** true between "Approve" and the approval itself (the App leaves the review view first) */
  approving?: boolean;
}

/** The panel's methods: `props.schema.view[method]` is the event's URI. */
export type Method =
  | "refresh"
  | "show_home"
  | "show_configure"
  | "show_analyze"
  | "start_run"
  | "validate_label_field"
  | "analyze_labels"
  | "open_run"
  | "set_tab"
  | "set_confidence"
  | "set_class_filter"
  | "promote"
  | "undo"
  | "approve"
  | "rename_run"
  | "delete_run"
  | "resume_run"
  | "skip_run";

export type Call = (method: Method, params?: Record<string, unknown>) => void;
