// The shapes of `props.data`, as panel/README.md defines them.

export type RunStatus = "Generating" | "In Review" | "Approved" | "Error";
export type Tab = "review" | "approval" | "audit";
export type Target = "all" | "view" | "selected";

export interface RunCard {
  key: string;
  name: string;
  status: RunStatus;
  /** the status chip's color, decided by the panel */
  color: ChipColor;
  /** whether the run generates in delegated operations (the panel polls) */
  busy: boolean;
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
  /** a vision-language model's answers that were not labels, on one line (null: none) */
  answers?: string | null;
  /** the run's label counts, as `autolabel runs` prints them (null: not for this status) */
  numbers: RunNumbers;
  /** what the run allows now, decided by the pipeline (allowed_actions) */
  actions: RunAction[];
}

export type RunAction =
  | "open"
  | "cancel"
  | "log"
  | "rename"
  | "delete"
  | "resume"
  | "skip"
  | "promote"
  | "undo"
  | "approve"
  | "audit";

export interface RunNumbers {
  classes: number;
  generated: number;
  in_review: number | null;
  promoted: number | null;
  approved: number | null;
  discarded: number | null;
}

/** What "Approve" will do: every promoted label is approved, every label in review discarded. */
export interface ApprovalPreview {
  /** the run it is about */
  key: string;
  field: string;
  approved: number;
  samples: number;
  discarded: number;
  classes: { label: string; approved: number; discarded: number }[];
  estimated_precision: Estimate | null;
  /** the image audit's recall of the approved labels (null: no image audit) */
  estimated_recall?: RecallEstimate | null;
}

export interface HistoryEntry {
  at: string;
  action: "promote" | "undo";
  count: number;
  classes: string[] | null;
  min_confidence: number | null;
  max_confidence: number | null;
  narrowed: boolean;
}

/** A precision estimated from an audit (null precision: not audited). */
export interface Estimate {
  precision: number | null;
  low: number | null;
  high: number | null;
  answers: number;
  labels: number;
  unaudited: number;
  /** per class, where the estimate is of a set of labels */
  classes?: Record<string, Estimate>;
}

export interface AuditClass {
  label: string;
  labels: number;
  answered: number;
  correct: number;
  needs: number;
  precision: Estimate | null;
  threshold: number | null;
  kept: number;
  curve: {
    thresholds: number[];
    precision: (number | null)[];
    low: (number | null)[];
    high: (number | null)[];
    kept: number[];
  } | null;
  /** staged labels per confidence bin of width 0.05 */
  histogram: number[];
  /** the lowest threshold whose precision is at least the asked one at
   * AuditData.confidence, and the line that says it (null: not computed) */
  guaranteed?: {
    threshold: number | null;
    kept: number;
    lower_bound: number | null;
    needs: number | null;
    text: string;
  } | null;
}

/** A recall estimated from an image audit (null recall: no object counted). */
export interface RecallEstimate {
  recall: number | null;
  low: number | null;
  high: number | null;
  images?: number;
  objects?: number;
  classes?: Record<string, RecallEstimate>;
}

/** One class of the image audit's recall table. */
export interface RecallClass extends RecallEstimate {
  label: string;
  found: number;
  missed: number;
  promoted: RecallEstimate;
  threshold: number | null;
  threshold_recall: RecallEstimate | null;
}

/** The Audit tab's figures in Images mode (panel/audit.py image_audit_data). */
export interface ImageAuditData {
  started: boolean;
  default_size?: number;
  recall_asked: number;
  progress?: { answered: number; size: number };
  current?: {
    sample_id: string;
    index: number;
    labels: { id: string; label: string; confidence: number | null; state: string }[];
    classes: string[];
  } | null;
  overall?: RecallEstimate;
  promoted?: RecallEstimate;
  unaudited?: number | null;
  classes?: RecallClass[];
}

/** The Audit tab's figures (panel/data.py audit_data). */
export interface AuditData {
  /** "images": the image audit (then only `images` is set) */
  mode?: "labels" | "images";
  images?: ImageAuditData;
  started: boolean;
  default_size?: number;
  progress?: { answered: number; size: number; correct: number; wrong: number };
  current?: { id: string; label: string; confidence: number | null; index: number } | null;
  precision_asked: number;
  /** the confidence of each class's guaranteed threshold */
  confidence?: number | null;
  overall?: Estimate | null;
  estimate_promoted?: Estimate | null;
  classes: AuditClass[];
}

/** An Approved run's read-only summary. */
export interface Summary {
  field: string;
  approved: number | null;
  samples: number | null;
  discarded: number | null;
  generated: number | null;
  classes: { label: string; approved: number; discarded: number }[];
  estimated_precision: Estimate | null;
  estimated_recall?: RecallEstimate | null;
  approved_at: string | null;
  history: HistoryEntry[];
}

export interface LogEvent {
  time: string;
  kind: string;
  text: string;
  host?: string;
  pid?: number;
  traceback?: string;
}

export interface RunLog {
  key: string;
  name: string;
  status: RunStatus;
  events: LogEvent[];
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
  /** why a run cannot start with this model (and what to do), or null */
  unavailable: string | null;
  /** that its missing weights are fetched when the run starts, and about
   *  how large they are, or null */
  fetch: string | null;
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
  /** the image slices a run may label on a grouped dataset; [] otherwise */
  group_slices: string[];
  detections_fields: string[];
  analyzable_fields: { name: string; type: string }[];
  default_mask_dir: string;
}

export interface StatsRow {
  label: string;
  count: number;
  total: number;
  mean_confidence: number | null;
  /** of a video run: the tracks of its labels, in view and in the run */
  tracks?: number;
  tracks_total?: number;
}

export interface Review {
  confidence: { min: number | null; max: number | null };
  confidence_bounds: { min: number; max: number };
  /** the checked classes; empty: all */
  classes: string[];
  state: "in_review" | "promoted";
  /** whether the App shows patches of the run's staging field */
  patches: boolean;
  selected_labels: number;
  /** how many labels are lassoed in FiftyOne's Embeddings panel; null: no lasso */
  lassoed?: number | null;
  /** the one pass shown (a click on its row), or null */
  pass?: number | null;
  count: number;
  total: number;
  rows: StatsRow[];
  /** the table split by pass, of an iterative zero-shot run; null for one pass */
  passes?: PassRow[] | null;
  /** a video run: frame labels, counted with their tracks (in view, in the run) */
  video?: boolean;
  tracks?: number | null;
  tracks_total?: number | null;
  /** whether promote and undo act on whole tracks (set_by_track) */
  by_track?: boolean;
}

/** One pass of an iterative zero-shot run in the review table (pipeline.zeroshot.annealing.pass_rows). */
export interface PassRow {
  pass: number;
  threshold: number;
  /** its labels of the tab's state: in view, in the run */
  count: number;
  total: number;
  mean_confidence: number | null;
}

/** The settings of iterative zero-shot labeling, as typed (start_run's `annealing`). */
export interface AnnealingSettings {
  passes: string | null;
  schedule: string | null;
  start: string | null;
  floor: string | null;
  max_passes: string | null;
  aggregate: string;
  iou: string | null;
  eps: string | null;
  requery: string;
  noun_chunks: string | null;
}

/** The panel's answer to preview_annealing: the thresholds per pass, or the first error. */
export interface AnnealingPreview {
  thresholds: number[] | null;
  schedule: string | null;
  aggregate: string | null;
  iou: number | null;
  eps: number | null;
  requery: string | null;
  noun_chunks: { path: string; lines: number; matched: number } | null;
  error: string | null;
}

/** A delegated Brain operation on its way, or failed (panel/brain.py). */
export interface BrainOperation {
  id: string;
  state: string;
  /** queued or running: the panel polls */
  pending: boolean;
  progress: number | null;
  label: string | null;
  error: string | null;
}

export interface MistakesSummary {
  against: string;
  labels: number;
  matched: number;
  /** null for a classification run */
  possible_spurious: number | null;
  possible_missing: number | null;
  /** labels of another class (a classification run), else null */
  disagree?: number | null;
  label_type?: string;
  mean_agreement: number | null;
}

/** The review page's Brain card (pipeline.brain.brain_state + panel/brain.py). */
export interface BrainData {
  embeddings: { brain_key: string; model: string; method: string; embedded: number } | null;
  embedding: BrainOperation | null;
  mistakes: MistakesSummary | null;
  mistakes_operation: BrainOperation | null;
  against: { value: string; label: string }[];
  default_model: string;
  embedders: string[];
  busy: boolean;
  /** the Brain view the panel applies */
  view: { similar_to?: string; order?: string; subset?: string; min_agreement?: number };
  /** the one staged label selected, if exactly one */
  selected_label: string | null;
  near_duplicate_distance: number;
  similar?: { label_id: string; count: number; near_duplicates: number };
  /** the run's label type */
  label_type?: string;
  /** why label embeddings and similar labels are not offered, or null */
  labels_disabled?: string | null;
  /** the hardness of a classification run's samples, once computed */
  hardness?: { brain_key: string; samples: number; without_logits: number } | null;
  hardness_operation?: BrainOperation | null;
  /** why hardness cannot be computed, or null */
  hardness_disabled?: string | null;
  /** the embeddings and uniqueness of the run's images, once computed */
  uniqueness?: { brain_key: string; visualization: string; samples: number; model: string; method: string } | null;
  images_operation?: BrainOperation | null;
  /** why the run's images cannot be embedded, or null */
  images_disabled?: string | null;
  /** why nothing of the card applies to this run (then only this is sent) */
  disabled?: string | null;
}

/** A button the panel offers, with its words (panel/loops.py decides both). */
export interface LoopAction {
  action: "next" | "retry" | "cancel" | "review";
  label: string;
}

export interface LoopProgress {
  step: string;
  label: string;
  percent: number;
}

/** One flow in the Loops page's list (panel/loops.py flow_card). */
export interface FlowCard {
  name: string;
  key: string;
  task: string;
  /** its mode, as the pipeline names it */
  mode: string;
  model: string;
  iteration_count: number;
  current: { index: number; status: string; color: ChipColor };
  map50: number | null;
  /** a step runs or is queued: the component refreshes while any flow is busy */
  busy: boolean;
  progress: LoopProgress | null;
  created_at: string | null;
}

export type ChipColor = "default" | "info" | "warning" | "success" | "error";

/** null where a number does not apply to the iteration */
export interface IterationCounts {
  sampled: number | null;
  relabeled: number | null;
  staged: number | null;
  accepted: number | null;
  discarded: number | null;
  gt_images: number | null;
  pseudo_images: number | null;
  train_size: number | null;
}

export interface IterationRow {
  index: number;
  status: string;
  color: ChipColor;
  current: boolean;
  note: string | null;
  error: string | null;
  progress: LoopProgress | null;
  operation: { id: string; state: string | null } | null;
  cancel_requested: boolean;
  counts: IterationCounts;
  metrics: { map50: number; map: number; precision: number; recall: number } | null;
  classes: { label: string; ap50: number; support: number }[];
  training: { epochs: number | null; seconds: number | null } | null;
  acceptance: string | null;
  model: string | null;
  /** the mode it records (`loop next --mode`), or null: the flow's */
  mode: string | null;
  /** the catalog model that labels it (null: iteration 0) */
  label_model: string | null;
  /** its mode and labeling model in words, or null */
  labeling: string | null;
  /** while its corrections are out in an annotation tool: the tool and its task */
  annotation: { tool: string; url: string } | null;
  run: { key: string; name: string; status: RunStatus } | null;
  actions: LoopAction[];
  step_seconds: { step: string; seconds: number }[];
  updated_at: string | null;
}

export interface LoopPlot {
  iterations: number[];
  series: { name: string; overall: boolean; values: (number | null)[] }[];
}

/** One flow's page (panel/loops.py flow_detail). */
export interface FlowDetail extends FlowCard {
  classes: string[];
  pool_left: number;
  settings: { name: string; value: string | null }[];
  /** the buttons of the current iteration */
  actions: LoopAction[];
  /** why there is no next step, or what is on its way */
  hint: string | null;
  /** edit and delete, while no step runs (`confirm`: ask first) */
  manage: FlowManageAction[];
  /** newest first */
  iterations: IterationRow[];
  plot: LoopPlot | null;
  /** the settings the next button sends (`autolabel loop next`), while it is offered */
  next_form: LoopForm | null;
}

export interface FlowManageAction {
  /** names the button (its test id) */
  key: string;
  action: "edit" | "delete";
  label: string;
  confirm: string | null;
  /** sent with the action's method */
  params?: Record<string, unknown>;
}

export interface Choice {
  value: string;
  label: string;
}

/** One setting of a declared form (pipeline/declarations.py Settings.form), drawn as sent. */
export interface FormField {
  name: string;
  kind: "choice" | "text" | "number" | "integer" | "list" | "flag";
  label: string;
  help: string;
  value: unknown;
  default: unknown;
  /** how the setting's default reads where no value is given */
  default_help: string | null;
  required: boolean;
  choices: { value: string; label: string; description: string | null }[] | null;
  min: number | null;
  max: number | null;
  /** the heading it is shown under */
  group: string | null;
  /** its error, checked by Python as the user types */
  error: string | null;
}

/** A declared form: its fields, whether it is ready, the job's own error. */
export interface SettingsForm {
  fields: FormField[];
  ready: boolean;
  error: string | null;
}

/** The form that edits a flow (panel/loops.py edit_form): `autolabel loop edit`'s declaration. */
export interface LoopEditForm {
  flow: string;
  /** every value typed so far, sent back on each change */
  values: Record<string, string>;
  form: SettingsForm;
  /** the number of the change this form answers (none: the form as opened) */
  seq?: number | null;
  note: string | null;
}

/** The form that creates a flow (panel/loops.py loop_form): `autolabel loop create`'s declaration. */
export interface LoopForm {
  /** every value typed so far, sent back on each change */
  values: Record<string, string>;
  form: SettingsForm;
  /** the number of the change this form answers (none: the form as opened) */
  seq?: number | null;
}

/** The Configure page's form (panel/configure.py configure_form): the generation run's declaration. */
export interface ConfigureForm {
  /** every value, as typed and as Python settled them, sent back on each change */
  values: Record<string, string>;
  form: SettingsForm;
  /** the number of the change this form answers (none: the form as opened) */
  seq?: number | null;
  /** the chosen models' cards */
  model: ModelCard | null;
  seg_model: ModelCard | null;
  /** the thresholds of each pass, or their error (iterative passes only) */
  preview: AnnealingPreview | null;
  /** why the run cannot start yet, in one line (null if it can) */
  reason: string | null;
  /** whether the run can be tested on a few samples first (a vision-language model's) */
  testable?: boolean;
}

/** A test's labels of a few samples (panel/configure.py test_run): nothing was written. */
export interface ConfigureTest {
  /** what `autolabel generate --test` prints: per sample its labels, then a summary */
  lines: string[];
}

export interface PanelData {
  context?: Context;
  runs?: RunCard[];
  /** every task/method combination, sent by show_configure */
  model_choices?: ModelChoice[];
  page?: "home" | "configure" | "analyze" | "run" | "summary" | "log" | "loops" | "flow" | "loop_create" | "loop_edit";
  run?: RunCard | null;
  tab?: Tab;
  review?: Review | null;
  brain?: BrainData | null;
  /** an embedding or comparison is pending: the component polls refresh (set by the panel's own events only) */
  brain_busy?: boolean;
  error?: string | null;
  /** the method whose call gave `error`: the page shows it next to that control */
  error_source?: string | null;
  /** the run key the failed call was about, if any */
  error_key?: string | null;
  /** why the App's view cannot be reviewed here, or null */
  view_error?: string | null;
  label_field_error?: string | null;
  run_name_error?: string | null;
  /** the configure page's preview of iterative zero-shot settings (preview_annealing) */
  annealing_preview?: AnnealingPreview | null;
  summary?: Summary | null;
  audit?: AuditData | null;
  /** the approve dialog's figures (preview_approval) */
  approval?: ApprovalPreview | null;
  log?: RunLog | null;
  /** true between "Approve" and the approval itself (the App leaves the review view first) */
  approving?: boolean;
  /** the Loops pages: every flow, the open flow, the new flow's form */
  loops?: FlowCard[];
  flow?: FlowDetail | null;
  loop_form?: LoopForm | null;
  loop_edit?: LoopEditForm | null;
  configure_form?: ConfigureForm | null;
  /** the labels of the Configure page's last test (null: none since the last change) */
  configure_test?: ConfigureTest | null;
}

/** The panel's methods: `props.schema.view[method]` is the event's URI. */
export type Method =
  | "refresh"
  | "show_home"
  | "show_configure"
  | "show_analyze"
  | "start_run"
  | "test_run"
  | "validate_label_field"
  | "analyze_labels"
  | "open_run"
  | "set_tab"
  | "set_confidence"
  | "set_classes"
  | "set_pass"
  | "set_by_track"
  | "promote"
  | "embed_run"
  | "open_embeddings"
  | "find_similar"
  | "compare_run"
  | "set_brain_view"
  | "compute_hardness_run"
  | "embed_images_run"
  | "select_unique"
  | "undo"
  | "preview_approval"
  | "start_audit"
  | "answer_audit"
  | "set_audit_precision"
  | "promote_to_precision"
  | "set_audit_mode"
  | "start_image_audit"
  | "answer_image"
  | "set_audit_recall"
  | "approve"
  | "rename_run"
  | "delete_run"
  | "resume_run"
  | "skip_run"
  | "cancel_run"
  | "show_log"
  | "validate_run_name"
  | "preview_annealing"
  | "show_loops"
  | "show_flow"
  | "show_create_flow"
  | "change_flow_form"
  | "change_configure"
  | "create_flow"
  | "next_flow"
  | "retry_flow"
  | "cancel_flow"
  | "show_edit_flow"
  | "change_flow_edit"
  | "edit_flow"
  | "delete_flow"
  | "open_iteration";

export type Call = (method: Method, params?: Record<string, unknown>) => void;
