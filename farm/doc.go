// Package farm holds farm's core: the connections and named farms it shares
// with podman's own configuration files, strict SSH transport to the nodes,
// and the gathering of node facts that `farm status` shows and the scheduler
// consumes.
//
// The package never prints: callers inject a *slog.Logger where logging is
// wanted, and results are returned as data so that one failing node never
// hides the others.
package farm
