// The one versioned wire schema of the xdiag HTTP API (docs/api.md), mirrored
// in TypeScript. Every type the UI reads from the server is declared here and
// nowhere else; when the server's schema changes, this file changes with it.
//
// Units are in the names: `*_ns` nanoseconds from the profile's start, `bytes`
// bytes, `flops` floating point operations, `*_per_s` per second, times named
// `*_at` / `last_seen` are Unix seconds.

/** Version of the binary timeline format this client decodes. */
export const TIMELINE_WIRE_VERSION = 2;
/** First four bytes of every binary timeline response. */
export const TIMELINE_MAGIC = "XDTL";
export const TIMELINE_MIME = "application/x-xdiag-timeline";
export const API_PREFIX = "/api/v1";

// ---------------------------------------------------------------- errors

export interface ApiErrorBody {
  error: string;
  detail: string;
}

// ---------------------------------------------------------------- session

export type AuthMode = "none" | "token" | "iap";
export type Role = "viewer" | "editor" | "admin";

export interface ShareInfo {
  profile_id: string;
  view: Partial<WireViewState> | null;
  expires_at: number | string | null;
}

export interface Session {
  auth: AuthMode;
  user: string | null;
  role: Role | null;
  share: ShareInfo | null;
  csrf_token: string | null;
  read_only: boolean;
}

/** View state as stored in a share link (same keys as the URL query). */
export interface WireViewState {
  tab: string;
  t0: number;
  t1: number;
  sel: number;
  q: string;
  module: string;
  op: string;
}

// ---------------------------------------------------------------- jobs

export interface HostPeaks {
  matmul_gflops: number;
  memcpy_gbps: number;
}

export interface Host {
  process_index: number;
  process_count: number;
  host: string;
  port: number;
  hostname: string;
  device_kind: string;
  device_count: number;
  local_device_count: number;
  jax_version: string;
  peaks: HostPeaks | null;
  registered_at: number;
  last_seen: number;
  state: "live" | "stale";
}

export interface Job {
  job: string;
  hosts: Host[];
  live: number;
  stale: number;
}

// ---------------------------------------------------------------- captures

export type CaptureState = "capturing" | "saving" | "ingesting" | "done" | "failed";

export interface CaptureRequest {
  job: string;
  duration_ms: number;
  host_tracer_level?: number;
  device_tracer_level?: number;
  python_tracer_level?: number;
  wait?: boolean;
}

export interface CaptureHost {
  host: string;
  address: string;
  state: "capturing" | "saved" | "failed";
  error: string | null;
  bytes: number | null;
  window_ns: [number, number] | null;
}

export interface Capture {
  id: string;
  job: string;
  state: CaptureState;
  duration_ms: number;
  started_at: number;
  finished_at: number | null;
  hosts: CaptureHost[];
  windows_overlap: boolean | null;
  profile_id: string | null;
  url: string | null;
  error: string | null;
}

// ---------------------------------------------------------------- profiles

export type ProfileStatus = "ingesting" | "ready" | "failed";

export interface ProfileHost {
  host: string;
  bytes: number;
  events: number | null;
  window_ns: [number, number] | null;
}

export interface Profile {
  id: string;
  run: string;
  session: string;
  url: string;
  status: ProfileStatus;
  error: string | null;
  created_at: number;
  source: "capture" | "upload";
  job: string | null;
  hosts: ProfileHost[];
  events: number | null;
  duration_ns: number | null;
  ingest: { version: string | number; seconds: number; events_per_s: number } | null;
  peaks: Record<string, unknown> | null;
  /** While ingesting: the timeline of every host can be opened already (the tables follow). */
  timeline_ready?: boolean;
  /** While a session of several hosts ingests: hosts whose timeline is ready... */
  hosts_ready?: number;
  /** ...and the first hosts (record order) the timeline shows now (it opens on them). */
  timeline_hosts?: number;
}

export interface ProfileQuery {
  q?: string;
  run?: string;
  job?: string;
  status?: string;
}

// ---------------------------------------------------------------- timeline

export type TrackGroup = "device" | "thread" | "host";

export interface Track {
  id: number;
  host: string;
  group: TrackGroup;
  name: string;
  device: number | null;
  max_depth: number;
  events: number;
  /** Rows are lanes (slices that overlap without nesting, e.g. GPU kernels), not nesting levels. */
  lanes?: boolean;
}

export interface StepMarker {
  step: number;
  start_ns: number;
  dur_ns: number;
}

export interface TracksResponse {
  start_ns: number;
  end_ns: number;
  tracks: Track[];
  steps: StepMarker[];
}

export interface TimelineQuery {
  start_ns: number;
  end_ns: number;
  /** Resolution of the request in buckets-of-two-slices (pixels). */
  width: number;
  tracks?: number[];
}

export interface TimelineTrackCount {
  id: number;
  /** Every event of the track intersecting the window. */
  in_window: number;
  /** Slices of the track in this response. */
  returned: number;
}

export type ColumnDtype = "float64" | "uint32" | "uint16" | "uint8";

export interface TimelineColumnSpec {
  name: string;
  dtype: ColumnDtype;
  /** Byte offset, relative to the end of the padded header. */
  offset: number;
  /** Number of elements (equal to `count`). */
  length: number;
}

/** JSON header of a binary timeline response. */
export interface TimelineHeader {
  version: number;
  start_ns: number;
  end_ns: number;
  width: number;
  bucket_ns: number;
  count: number;
  /** `start_ns` values are ns after this instant (the earliest start in the response). */
  origin_ns: number;
  strings: string[];
  tracks: TimelineTrackCount[];
  columns: TimelineColumnSpec[];
}

/** `&format=json` variant of the timeline. */
export interface TimelineJson {
  version: number;
  start_ns: number;
  end_ns: number;
  width: number;
  bucket_ns: number;
  tracks: TimelineTrackCount[];
  slices: { id: number; name: string; track: number; depth: number; start_ns: number; dur_ns: number }[];
}

/**
 * Columns every v2 binary response carries, and the types each may have: a response
 * sends each as narrow as its values allow and says which in its header.
 */
export const TIMELINE_COLUMNS: Readonly<Record<string, readonly ColumnDtype[]>> = {
  start_ns: ["uint32", "float64"],
  dur_ns: ["uint32", "float64"],
  id: ["uint32"],
  name: ["uint16", "uint32"],
  track: ["uint16", "uint32"],
  depth: ["uint8", "uint16"],
};

export interface EventDetails {
  id: number;
  name: string;
  track: number;
  host: string;
  depth: number;
  start_ns: number;
  dur_ns: number;
  stats: Record<string, string | number | boolean | null>;
  hlo: { module: string; op: string; program_id: number | string | null } | null;
  category: string | null;
  flops: number | null;
  bytes: number | null;
  /** The op's JAX name stack (HLO metadata op_name): named scopes and primitive. */
  scope?: string;
}

export interface SearchMatch {
  id: number;
  name: string;
  track: number;
  start_ns: number;
  dur_ns: number;
  /** The op's named scope (e.g. "train_step/moe/experts"), when the server knows it. */
  scope?: string;
}

export interface SearchResponse {
  q: string;
  total: number;
  matches: SearchMatch[];
  next_after_ns: number | null;
}

// ---------------------------------------------------------------- analyses

export type BoundBy = "compute" | "memory" | string;

/**
 * One op of the op profile (docs/api.md, `ops`). Time has one definition in every
 * view: `self_ns` is the op's own device time (nested ops excluded, concurrent ops
 * splitting their overlap), `share` = self_ns / total_self_ns (the devices' busy
 * time; shares add up to 1). `total_ns` is inclusive run time: rates and averages.
 */
export interface Op {
  module: string;
  program_id: number | string | null;
  op: string;
  category: string;
  fused_category?: string;
  occurrences: number;
  total_ns: number;
  avg_ns: number;
  self_ns: number;
  share: number;
  /** Self time per device label. */
  per_device: Record<string, number>;
  flops: number | null;
  bytes: number | null;
  flops_per_s: number | null;
  bytes_per_s: number | null;
  bound_by: BoundBy | null;
  /** Inside a fused computation: its fusion carries its FLOPs and bytes. */
  in_fusion?: boolean;
  /** Collectives: payload per device (all occurrences), waiting and transfer time. */
  collective_bytes?: number;
  wait_ns?: number | null;
  transfer_ns?: number | null;
}

export interface OpsResponse {
  ops: Op[];
  by_category: { category: string; self_ns: number; share: number }[];
  by_program: { module: string; program_id: number | string | null; self_ns: number; share: number }[];
  devices: string[];
  total_self_ns: number;
  /** What each time field means, in words. */
  time?: { self_ns: string; total_ns: string; share: string };
}

export interface RooflinePeaks {
  flops_per_s: number;
  bytes_per_s: number;
  source: string;
  device_kind: string;
  interconnect_bytes_per_s?: number;
  interconnect_source?: string;
  cache_bytes_per_s?: number;
  llc_bytes?: number;
}

export interface RooflinePoint {
  module: string;
  op?: string;
  category?: string;
  fused_category?: string;
  occurrences?: number;
  /** Run time (inclusive): the rates are over it. */
  time_ns: number;
  /** Self time and share, as in the op profile. */
  self_ns: number;
  share: number;
  flops: number;
  bytes: number;
  oi: number;
  flops_per_s: number;
  bytes_per_s: number;
  bound_by: "compute" | "memory";
  efficiency: number;
  /** Above a roof by more than 5 %: which, and the likeliest reason. */
  above_roof?: "compute" | "memory" | null;
  reason?: string | null;
}

export interface CollectivePoint {
  module: string;
  op: string;
  occurrences: number;
  time_ns: number;
  self_ns: number;
  share: number;
  /** Payload per device over all occurrences. */
  bytes: number;
  wait_ns: number | null;
  transfer_ns: number | null;
  bytes_per_s: number | null;
  peak_bytes_per_s: number | null;
  efficiency: number | null;
  bound_by: string | null;
}

export interface RooflineResponse {
  peaks: RooflinePeaks;
  ridge_oi: number;
  ops: RooflinePoint[];
  programs: RooflinePoint[];
  collectives?: CollectivePoint[];
  above_roof?: number;
}

export interface Step {
  step: number;
  /** The step as the device ran it: from when its host side began and the device was
   * free of earlier work, to its last device op's end. */
  start_ns: number;
  dur_ns: number;
  compute_ns: number;
  collective_ns: number;
  idle_ns: number;
  host_ns: number;
  flops: number | null;
  mfu: number | null;
  hfu?: number | null;
  model_flops?: number | null;
  /** The host's dispatch of the step (its StepTraceAnnotation). */
  host_start_ns?: number;
  host_dur_ns?: number;
  device_start_ns?: number | null;
  device_end_ns?: number | null;
  /** False when the capture cut the step's device work off. */
  complete?: boolean;
}

export interface StepsResponse {
  steps: Step[];
  summary: {
    count: number; complete?: number; incomplete?: number;
    mean_ns: number | null; p50_ns: number | null; p90_ns: number | null;
    mfu: number | null; hfu?: number | null; mfu_source?: string;
    host_dispatch_mean_ns?: number; definition?: string;
  };
}

export interface HloModuleInfo {
  name: string;
  program_id: number | string | null;
  instructions: number | null; // null: not costed (the module did not run in the capture)
  flops: number | null;
  bytes: number | null;
}

export interface HloModulesResponse {
  modules: HloModuleInfo[];
}

/**
 * One node of the op neighbourhood graph. docs/api.md leaves the node shape
 * open; the client reads `id` and, when present, `name`/`label`, `opcode`,
 * `shape` and `highlight` (see webui/README.md, "contract notes").
 */
export interface HloGraphNode {
  id: string | number;
  name?: string;
  label?: string;
  opcode?: string;
  shape?: string;
  highlight?: boolean;
  [key: string]: unknown;
}

/** One edge; `source`/`target` (or `from`/`to`) name node ids. */
export interface HloGraphEdge {
  source?: string | number;
  target?: string | number;
  from?: string | number;
  to?: string | number;
  [key: string]: unknown;
}

export interface HloModuleResponse {
  module: string;
  text: string;
  op: string | null;
  graph: { nodes: HloGraphNode[]; edges: HloGraphEdge[] } | null;
  dot: string | null;
}

/** One op in both profiles; times are self time normalised as `DiffResponse.normalization` says. */
export interface DiffOp {
  module: string;
  op: string;
  category?: string | null;
  a_ns: number;
  b_ns: number;
  delta_ns: number;
  delta_pct: number | null;
  a_calls?: number;
  b_calls?: number;
}

export interface DiffOnly {
  module: string;
  op: string;
  /** Normalised self time. */
  ns?: number;
  total_ns?: number;
  [key: string]: unknown;
}

export interface DiffNormalization {
  kind: "per_step" | "per_second" | "total";
  unit: string;
  label: string;
  a_divisor: number;
  b_divisor: number;
}

/** A is the baseline, B the candidate: deltas are B - A (positive: B slower). */
export interface DiffResponse {
  a: string;
  b: string;
  ops: DiffOp[];
  only_a: DiffOnly[];
  only_b: DiffOnly[];
  steps: { a_mean_ns: number | null; b_mean_ns: number | null; delta_pct: number | null; a_count?: number; b_count?: number };
  /** Which op time is compared ("self_ns"). */
  time?: string;
  normalization?: DiffNormalization;
  totals?: { a_ns: number; b_ns: number; delta_ns: number; delta_pct: number | null };
  devices?: { a: number; b: number };
  notes?: string[];
  /** Findings that appeared, disappeared or changed cost (matched by id); absent on older servers. */
  findings?: DiffFindings;
}

// ---------------------------------------------------------------- diagnosis (issue 20)

/** A derived view the profile was ingested without (an older version): 200 with a reason. */
export interface NotAvailable {
  available: false;
  reason: string;
}

export interface Evidence {
  label: string;
  value: number | string | null;
  /** "ns", "bytes", "FLOP", "FLOP/s", "B/s", "share", "steps", "ops", ... */
  unit?: string | null;
  /** "value of N" (e.g. steps where a host was slowest, of all steps). */
  of?: number | null;
}

export interface FindingLinks {
  timeline?: { host: string | null; track: number | null; device: number | null; start_ns: number | null; end_ns: number | null } | null;
  ops?: { module: string | null; op: string | null; q: string | null; category: string | null; host: string | null } | null;
  roofline?: { module: string | null; program_id: number | null; op: string | null } | null;
  framework?: { path: string | null } | null;
}

export type Severity = "high" | "medium" | "low";

export interface Finding {
  id: string;
  rule: string;
  title: string;
  severity: Severity;
  /** The ranking key: estimated time lost per step, ns. */
  cost_ns_per_step: number;
  cost_share: number | null;
  confidence: number;
  evidence: Evidence[];
  what_to_try: string[];
  /** True for a roll-up of other causes (low MFU). */
  summary?: boolean;
  links: FindingLinks;
}

export interface DiagnosisRule {
  rule: string;
  title: string;
  thresholds: Record<string, number | string | boolean>;
  fired: boolean;
}

export interface Diagnosis {
  available: true;
  schema: string;
  profile_id: string;
  device_kind?: string;
  /** period_ns: the mean step period (step plus the idle gap after it) that cost_share is of. */
  summary: { steps: number; hosts: number; devices: number; step_ns: number | null; period_ns?: number | null; mfu: number | null; top: string | null };
  findings: Finding[];
  rules: DiagnosisRule[];
  skipped?: { rule: string; reason: string }[];
}

export interface ScopeNode {
  name: string;
  path: string;
  self_ns: number;
  total_ns: number;
  total_ns_per_step: number | null;
  share_of_step: number | null;
  share: number | null;
  flops: number | null;
  bytes: number | null;
  ops: number;
  /** The node's costliest op (its own, or for a node with no own ops its first child's). */
  op?: { module: string; program_id: number | null; op: string } | null;
  source: string | null;
  children: ScopeNode[];
}

export interface Framework {
  available: true;
  /** The mean of the complete steps the shares of the step are of (null: none complete). */
  step_ns: number | null;
  /** The root's share of the step: the devices' busy fraction in those steps. */
  busy_share_of_step?: number | null;
  steps: number;
  total_self_ns: number;
  devices?: number;
  root: ScopeNode;
}

export interface HostSteps {
  host: string;
  devices: number[];
  dur_ns: (number | null)[];
  start_ns: (number | null)[];
  compute_ns: (number | null)[];
  collective_ns: (number | null)[];
  host_ns: (number | null)[];
  idle_ns: (number | null)[];
  gap_ns?: (number | null)[];
  mean_dur_ns: number | null;
  slowest_count: number;
}

export interface DeviceBreakdown {
  host: string;
  devices: number[];
  steps?: number[];
  /** [device][step] */
  busy_ns: (number | null)[][];
  compute_ns: (number | null)[][];
  collective_ns: (number | null)[][];
  /** [step]: no device of the host busy (the same for every device); compute + collective + host + idle = step. */
  host_ns?: (number | null)[];
  idle_ns: (number | null)[][];
}

export interface HostsSteps {
  available: true;
  /** Step numbers (columns): the complete steps, at most 1000 evenly spaced. */
  steps: number[];
  /** Columns listed / complete steps in the profile. */
  shown?: { steps: number; of: number };
  hosts: HostSteps[];
  slowest: { step: number; host: string; dur_ns: number; excess_ns: number }[];
  skew: { mean_spread_ns: number | null; max_spread_ns: number | null; mean_spread_pct: number | null; cv: number | null };
  device_breakdown?: DeviceBreakdown;
}

export interface DiffFindingItem {
  id: string;
  rule: string;
  title: string;
  a_cost_ns_per_step?: number;
  b_cost_ns_per_step?: number;
  delta_ns?: number;
  delta_pct?: number | null;
}

export type DiffFindings =
  | { available: true; appeared: DiffFindingItem[]; disappeared: DiffFindingItem[]; changed: DiffFindingItem[]; changed_pct?: number }
  | NotAvailable;

// ---------------------------------------------------------------- memory (issue 19)
// GET .../memory, .../memory/programs/<program>, .../memory/allocators. Sizes are
// integer bytes, times ns from the profile's start, positions indices into the
// program's heap-simulation order. `available: false` comes with a `reason`
// sentence ("not available because …") at every level: shown verbatim, no chart.

export interface MemoryCapacity {
  bytes: number | null;
  source: "allocator" | "device_table" | "host_ram" | null;
  label: string;
}

export interface MemoryProgramSummary {
  id: string;
  name: string;
  program_id: number | null;
  fingerprint?: string;
  host?: string;
  ran_ns: number;
  available: boolean;
  reason: string | null;
  peak_heap_bytes?: number | null;
  peak_unpadded_heap_bytes?: number | null;
  entry_parameters_bytes?: number | null;
  maybe_live_out_bytes?: number | null;
}

export interface MemoryAllocatorSummary {
  name: string;
  host: string;
  peak_bytes_in_use: number;
  peak_time_ns: number;
  capacity_bytes: number | null;
  headroom_bytes: number | null;
}

export interface MemorySummary {
  available: boolean;
  reason: string | null;
  default_program: string | null;
  programs: MemoryProgramSummary[];
  allocators?: { available: boolean; reason: string | null; allocators?: MemoryAllocatorSummary[] };
  capacity?: MemoryCapacity | null;
}

export interface MemoryBuffer {
  id: number;
  size_bytes: number;
  unpadded_bytes?: number | null;
  shape: string;
  dtype: string;
  dims?: number[];
  instruction: string;
  shape_index?: number[];
  opcode?: string;
  category: string;
  memory_space?: number;
  /** The op's source line; `stack`: "file:line:col" frames, innermost first. */
  source: { file: string; line: number; stack?: string[] } | null;
  op_name?: string;
  scope?: string;
  /** Every named scope of the op, outermost first ("moe/router"). */
  scope_path?: string;
  allocation?: number;
  allocation_bytes?: number;
  offset?: number;
  /** Bytes it adds to the groups (the allocation's size for parameters, outputs, constants). */
  group_bytes?: number;
  /** [start, end] positions in program order; null for buffers live through the whole program. */
  live: [number, number] | null;
}

export interface MemoryGroup {
  key: string;
  bytes: number;
  count: number;
}

export interface MemoryProgram {
  available: boolean;
  reason: string | null;
  id: string;
  name: string;
  program_id: number | null;
  fingerprint?: string;
  host?: string;
  memory_space?: number;
  memory_spaces?: number[];
  peak_heap_bytes: number;
  peak_unpadded_heap_bytes: number;
  entry_parameters_bytes: number;
  maybe_live_out_bytes: number;
  indefinite_bytes?: number;
  temporaries_peak_bytes?: number;
  total_allocation_bytes?: number;
  non_reusable_bytes?: number;
  /** False: the compiler recorded no heap simulation (the series is empty; only buffers live throughout). */
  heap_simulation?: boolean;
  small_buffer_bytes?: number;
  ran_ns?: number;
  /** xprof's peakHeapSizePosition: the heap-simulator event that makes the peak. */
  peak_position: number;
  /** The series position whose heap_bytes is the peak (peak_position + 1): the chart marks it. */
  peak_point?: number;
  peak_instruction?: string | null;
  heap: {
    /** False (with a reason) for a program the compiler simulated no heap for: no chart. */
    available?: boolean;
    reason?: string | null;
    total_points: number;
    downsampled: boolean;
    position: number[];
    heap_bytes: number[];
    unpadded_bytes?: number[] | null;
    instruction?: string[] | null;
  };
  buffers: MemoryBuffer[];
  buffers_at_peak: number;
  groups: {
    by_category: MemoryGroup[];
    by_scope: MemoryGroup[];
    /** Each scope's own largest simultaneous temporaries, anywhere in the program. */
    scope_peaks?: { key: string; bytes: number }[];
  };
  capacity?: MemoryCapacity | null;
  headroom_bytes?: number | null;
}

export interface MemoryAllocation {
  bytes: number;
  requested_bytes?: number | null;
  op?: string;
  shape?: string;
  dtype?: string;
  region_type?: string;
  address?: number | null;
  t_ns?: number | null;
}

export interface MemoryAllocator {
  name: string;
  host: string;
  capacity_bytes: number | null;
  peak_bytes_in_use: number;
  peak_time_ns: number;
  peak_reserved_bytes?: number | null;
  headroom_bytes: number | null;
  events: number;
  series: {
    t_ns: number[];
    bytes_in_use: number[];
    bytes_reserved?: number[] | null;
    bytes_available?: number[] | null;
    fragmentation?: number[] | null;
  };
  live_at_peak: MemoryAllocation[];
}

export interface MemoryDiffBuffer {
  op_name?: string;
  shape: string;
  category: string;
  instruction: string;
  scope?: string;
  a_bytes: number;
  b_bytes: number;
  delta_bytes: number;
  change: "appeared" | "grew" | "shrank" | "gone" | string;
}

/** GET /api/v1/diff/memory: one program (by name) in A and B, the buffers at the peak that changed, largest |delta| first. */
export interface MemoryDiff {
  available: boolean;
  reason: string | null;
  program: string;
  a: string;
  b: string;
  a_peak_bytes: number;
  b_peak_bytes: number;
  delta_bytes: number;
  delta_pct: number | null;
  buffers_changed: number;
  buffers: MemoryDiffBuffer[];
}

export interface MemoryAllocators {
  available: boolean;
  reason: string | null;
  allocators: MemoryAllocator[];
}

// ---------------------------------------------------------------- shares

export interface ShareRequest {
  profile_id: string;
  view: Partial<WireViewState>;
  expires_in: string;
}

export interface ShareCreated {
  id: string;
  url: string;
  token: string;
  expires_at: number | string;
  [key: string]: unknown;
}
