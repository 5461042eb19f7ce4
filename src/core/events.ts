/** Progress and notices the app layer emits; the CLI decides how (or whether) to show them. */
export interface ProgressEvent {
  phase: string;
  files?: number;
  bytes?: number;
  totalFiles?: number;
  totalBytes?: number;
  path?: string;
}

export interface AppEvents {
  progress?(e: ProgressEvent): void;
  /** Something the user should know that does not fail the run. */
  warning?(message: string, path?: string): void;
  info?(message: string): void;
}
