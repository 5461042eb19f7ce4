/** How many snapshots of each kind a policy keeps (DESIGN.md §2b); durations in milliseconds. */
export interface RetentionSpec {
  keep_last?: number;
  keep_hourly?: number;
  keep_daily?: number;
  keep_weekly?: number;
  keep_monthly?: number;
  keep_yearly?: number;
  /** Milliseconds. */
  keep_within?: number;
}

